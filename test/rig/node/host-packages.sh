#!/usr/bin/env bash
# The Debian packages a real rig node needs on this host (see NOTES.md): installed when one is
# missing and we are root, otherwise named with the command that installs them. Installed ones
# are left alone, so on a prepared host this takes no network and well under a second.
set -euo pipefail

PACKAGES=(containerd runc containernetworking-plugins iptables socat busybox-static dumb-init
  docker-registry jq openssl curl)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) != 0 ]]; then
  echo "host-packages: missing ${missing[*]}; as root: $cmd" >&2
  exit 1
fi
echo "host-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# Services are never started here: policy-rc.d may refuse, and the node scripts start their own.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
