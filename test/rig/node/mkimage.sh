#!/usr/bin/env bash
# Make a one-layer OCI image archive (for `ctr -n k8s.io images import`) from a directory,
# without any registry or image tool.
#
# Usage: mkimage.sh ROOTFS NAME OUT.tar [CONFIG_JSON]
#   ROOTFS       directory that becomes the image's root file system
#   NAME         full image reference, e.g. docker.io/library/busybox:rig
#   CONFIG_JSON  the image config's "config" object (Entrypoint, Cmd, Env, WorkingDir, User);
#                default {"Env":["PATH=/bin:/usr/bin"],"Cmd":["/bin/sh"]}
# The layer is an uncompressed, reproducible tar (sorted, mtime 0, uid/gid 0), so the same
# ROOTFS gives the same image ID.
set -euo pipefail

rootfs=$1 name=$2 out=$3
cfg=${4:-'{"Env":["PATH=/bin:/usr/bin"],"Cmd":["/bin/sh"]}'}
[[ -d $rootfs ]] || { echo "mkimage.sh: $rootfs is not a directory" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blobs/sha256"

# blob FILE: move FILE into blobs/ under its sha256; prints "<digest> <size>".
blob() {
  local d s
  d=$(sha256sum "$1" | cut -d' ' -f1)
  s=$(stat -c %s "$1")
  mv "$1" "$work/blobs/sha256/$d"
  echo "$d $s"
}

tar -C "$rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -cf "$work/layer.tar" .
read -r layer_d layer_s < <(blob "$work/layer.tar")

jq -cn --argjson c "$cfg" --arg diff "sha256:$layer_d" \
  '{architecture:"amd64", os:"linux", config:$c,
    rootfs:{type:"layers", diff_ids:[$diff]},
    history:[{created_by:"test/rig/node/mkimage.sh"}]}' >"$work/config.json"
read -r cfg_d cfg_s < <(blob "$work/config.json")

jq -cn --arg cd "sha256:$cfg_d" --argjson cs "$cfg_s" --arg ld "sha256:$layer_d" --argjson ls "$layer_s" \
  '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
    config:{mediaType:"application/vnd.oci.image.config.v1+json", digest:$cd, size:$cs},
    layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar", digest:$ld, size:$ls}]}' \
  >"$work/manifest.json"
read -r man_d man_s < <(blob "$work/manifest.json")

# ctr names the image after io.containerd.image.name; the OCI ref name is the tag.
jq -cn --arg md "sha256:$man_d" --argjson ms "$man_s" --arg name "$name" --arg tag "${name##*:}" \
  '{schemaVersion:2, mediaType:"application/vnd.oci.image.index.v1+json",
    manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$md, size:$ms,
      platform:{architecture:"amd64", os:"linux"},
      annotations:{"io.containerd.image.name":$name, "org.opencontainers.image.ref.name":$tag}}]}' \
  >"$work/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"

tar -C "$work" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  -cf "$out" oci-layout index.json blobs
echo "$name sha256:$cfg_d ($out)"
