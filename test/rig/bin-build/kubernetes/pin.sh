#!/usr/bin/env bash
# Re-pin the kubernetes tools module to a k8s.io/kubernetes tag.
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go,
# ...) at v0.0.0 and replaces them with ./staging/src/k8s.io/<m> directories,
# which do not exist outside its repository. So we read the replace block of
# the tag's own go.mod and replace each staging module with its published
# v0.<minor>.<patch> release instead. Nothing here is a hard-coded list.
#
# Usage: pin.sh v1.36.3
set -euo pipefail
KV=${1:?usage: pin.sh vX.Y.Z}
SV="v0.${KV#v1.}"
cd "$(dirname "$0")"

GM=$(go mod download -json "k8s.io/kubernetes@$KV" | sed -n 's/^\s*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[[ -f $GM ]] || { echo "pin.sh: cannot find go.mod of k8s.io/kubernetes@$KV" >&2; exit 1; }

# Drop any replace left from a previous pin, then add the current set.
for m in $(go mod edit -json | sed -n 's/^\s*"Path": "\(k8s\.io\/[^"]*\)"$/\1/p' | sort -u); do
  go mod edit -dropreplace="$m"
done
mods=$(sed -n 's#^\s*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$GM")
[[ -n $mods ]] || { echo "pin.sh: no staging replaces found in $GM" >&2; exit 1; }
args=()
for m in $mods; do args+=("-replace=$m=$m@$SV"); done
go mod edit "${args[@]}"

go get -tool \
  "k8s.io/kubernetes/cmd/kube-apiserver@$KV" \
  "k8s.io/kubernetes/cmd/kube-controller-manager@$KV" \
  "k8s.io/kubernetes/cmd/kube-scheduler@$KV" \
  "k8s.io/kubernetes/cmd/kubectl@$KV"
go mod tidy
echo "pinned k8s.io/kubernetes $KV with $(wc -w <<<"$mods") staging replaces at $SV"
