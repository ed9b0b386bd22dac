#!/usr/bin/env bash
# Re-pin the kubernetes tools modules to a k8s.io/kubernetes tag.
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go,
# ...) at v0.0.0 and replaces them with ./staging/src/k8s.io/<m> directories,
# which do not exist outside its repository. So we read the replace block of
# the tag's own go.mod and replace each staging module with its published
# v0.<minor>.<patch> release instead. Nothing here is a hard-coded list.
#
# Two families share the pin: kubernetes/ (control plane, default build set)
# and kubernetes-node/ (kubelet, kube-proxy; `build.sh --dataplane`). They are
# separate modules so that adding node binaries does not change the control
# plane's cache key. Keep them on the same tag: re-pin both together.
#
# Usage: pin.sh v1.36.3 [family ...]   (default: kubernetes kubernetes-node)
set -euo pipefail
KV=${1:?usage: pin.sh vX.Y.Z [family ...]}
shift
SV="v0.${KV#v1.}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -gt 0 ]] || set -- kubernetes kubernetes-node

tools_of() {
  case $1 in
    kubernetes) echo kube-apiserver kube-controller-manager kube-scheduler kubectl ;;
    kubernetes-node) echo kubelet kube-proxy ;;
    *) echo "pin.sh: unknown family '$1'" >&2; return 1 ;;
  esac
}

cd "$ROOT/kubernetes"
GM=$(go mod download -json "k8s.io/kubernetes@$KV" | sed -n 's/^\s*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[[ -f $GM ]] || { echo "pin.sh: cannot find go.mod of k8s.io/kubernetes@$KV" >&2; exit 1; }
mods=$(sed -n 's#^\s*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$GM")
[[ -n $mods ]] || { echo "pin.sh: no staging replaces found in $GM" >&2; exit 1; }

for fam in "$@"; do
  tools=$(tools_of "$fam")
  cd "$ROOT/$fam"
  # Drop any replace left from a previous pin, then add the current set.
  for m in $(go mod edit -json | sed -n 's/^\s*"Path": "\(k8s\.io\/[^"]*\)"$/\1/p' | sort -u); do
    go mod edit -dropreplace="$m"
  done
  args=()
  for m in $mods; do args+=("-replace=$m=$m@$SV"); done
  go mod edit "${args[@]}"
  args=()
  for t in $tools; do args+=("k8s.io/kubernetes/cmd/$t@$KV"); done
  go get -tool "${args[@]}"
  go mod tidy
  echo "pinned $fam: k8s.io/kubernetes $KV ($tools) with $(wc -w <<<"$mods") staging replaces at $SV"
done
