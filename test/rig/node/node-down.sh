#!/usr/bin/env bash
# Stop the real node of node-up.sh and undo everything it did on the host.
# Usage: node-down.sh [CLUSTER_INDEX]   (same env as node-up.sh)
# Order: cordon and drain pods through the kubelet (sandboxes, CNI netns, mounts go away
# properly), stop the helpers and the kubelet, delete the Node and its Lease (a rig whose kwok
# still runs with --manage-all-nodes would adopt the node once the lease expires and fake its
# pods), stop containerd, leftover shims, relays, then sweep mounts, pod netns,
# cgroups, the node netns (its iptables chains and bridge go with it) and the state dir.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
I=${1:-1}
# shellcheck source=env.sh
source "$HERE/env.sh"

log() { echo "node-down[$NODE] $(date +%T) $*" >&2; }
[[ -d $S ]] || { log "no state at $S; nothing to do"; exit 0; }
# shellcheck disable=SC1091
source "$CACHE/bin/manifest.env" 2>/dev/null || true
kc() { timeout 30 "${RIG_KUBECTL:-kubectl}" --kubeconfig "$CDIR/kubeconfig" "$@"; }

# alive PID: exists and is not a zombie (our processes are reparented to an init that may
# reap late).
alive() { [[ -r /proc/$1/stat ]] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null; }
running() { local p; p=$(cat "$S/$1.pid" 2>/dev/null) && alive "$p"; }
stop() { # name [grace seconds]
  local name=$1 grace=${2:-15} p k
  p=$(cat "$S/$name.pid" 2>/dev/null) || return 0
  if alive "$p"; then
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p"
    for ((k = 0; k < grace * 10; k++)); do alive "$p" || break; sleep 0.1; done
    alive "$p" && { kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p"; }
    log "stopped $name (pid $p)"
  fi
  rm -f "$S/$name.pid"
}

api_up=0
[[ -f $CDIR/kubeconfig ]] && kc get --raw /readyz >/dev/null 2>&1 && api_up=1

if ((api_up)) && running kubelet; then
  log "draining pods from $NODE"
  # Cordon first, or controllers put replacements right back onto the node.
  kc cordon "$NODE" >/dev/null 2>&1
  kc delete pods -A --field-selector "spec.nodeName=$NODE" --wait=false >/dev/null 2>&1
  # A DaemonSet puts its pod back even on a cordoned node (the action's spire-agent, real mode):
  # wait for the others only; the kubelet's stop below ends those.
  for ((k = 0; k < 120; k++)); do
    [[ -z $(kc get pods -A --field-selector "spec.nodeName=$NODE" -o json 2>/dev/null |
      jq -r '.items[] | select(any(.metadata.ownerReferences[]?; .kind == "DaemonSet") | not) | .metadata.name') ]] && break
    sleep 0.5
  done
  # Give the kubelet a moment to stop the sandboxes of the deleted pods.
  sleep 3
fi
# Helpers started beside the kubelet (csi-demo.sh: spiffe-csi-driver, csi-register; kube-proxy).
for f in "$S"/*.pid; do
  n=$(basename "$f" .pid)
  case $n in kubelet | containerd | api-relay-node | api-relay-host) ;; *) stop "$n" 5 ;; esac
done
stop kubelet 20
# After the kubelet (it would recreate its Lease), and well within the Lease's 40 s (or kwok
# would adopt the node and fake its pods).
if ((api_up)); then
  kc delete node "$NODE" --ignore-not-found >/dev/null 2>&1 && log "deleted Node $NODE"
  kc -n kube-node-lease delete lease "$NODE" --ignore-not-found >/dev/null 2>&1
  kc -n default delete endpointslice "kubernetes-$NODE" --ignore-not-found >/dev/null 2>&1
fi
# Any sandbox/container left: kill and delete its task so its shim exits.
if running containerd; then
  ctrc() { timeout 20 ctr --address "$S/containerd/containerd.sock" -n k8s.io "$@"; }
  for t in $(ctrc tasks ls -q 2>/dev/null); do
    ctrc tasks kill -s SIGKILL "$t" >/dev/null 2>&1
  done
  sleep 1
  for t in $(ctrc tasks ls -q 2>/dev/null); do ctrc tasks delete -f "$t" >/dev/null 2>&1; done
fi
stop containerd 20
# Shims are their own process groups: find ours by our containerd's unique socket path.
for d in /proc/[0-9]*; do
  cmd=$({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) || continue
  if [[ $cmd == *containerd-shim* && $cmd == *"$S/containerd/containerd.sock"* ]]; then
    log "killing leftover shim ${d#/proc/}"
    kill -KILL "${d#/proc/}" 2>/dev/null
  fi
done
stop api-relay-node 5
stop api-relay-host 5

# Mounts under our state dir (kubelet volumes, sandbox shm, container rootfs), deepest first.
findmnt -rn -o TARGET | grep -F "$S/" | sort -r | while read -r m; do
  umount -l "$m" 2>/dev/null && log "unmounted $m"
done
# Pod network namespaces that appeared after node-up (containerd names them cni-<uuid>).
ROOT=$(dirname "$S")
BASE=$ROOT/baseline
base_netns=$(sed -n 's/^netns=//p' "$BASE" 2>/dev/null)
for n in $(ls /run/netns 2>/dev/null); do
  [[ $n == cni-* && " $base_netns " != *" $n "* ]] || continue
  ip netns delete "$n" 2>/dev/null && log "deleted pod netns $n"
done
# cgroups: rmdir depth first (a cgroup dir can only be removed when it has no children/tasks).
for h in /sys/fs/cgroup/*/; do
  [[ -d $h$CGROOT ]] || continue
  find "$h$CGROOT" -depth -type d -exec rmdir {} + 2>/dev/null
  [[ -d $h$CGROOT ]] && log "WARNING: $h$CGROOT still exists (tasks left?)"
done
if ip netns list | grep -qw "$NETNS"; then
  ip netns delete "$NETNS" && log "deleted netns $NETNS (veth, bridge, its iptables rules)"
fi
# The veth goes with the netns only once no process holds that any more: not waited for.
if ip link show "$VH" >/dev/null 2>&1; then ip link del "$VH" && log "deleted $VH"; fi
# Real mode: the instance's backbone and registry go with its last node (its veth went with the
# netns).
if ! compgen -G "$NODE_ROOT/${TAG}cluster-*-real-1" | grep -qvxF "$S"; then
  if ip netns list | grep -qw "$BB"; then ip netns delete "$BB" && log "deleted backbone netns $BB"; fi
  if [[ -d $REG_DIR ]]; then
    p=$(cat "$REG_DIR/registry.pid" 2>/dev/null) && alive "$p" && kill -TERM "$p" && log "stopped registry (pid $p)"
    rm -rf "$REG_DIR"
  fi
fi
# Host paths the kubelet and the shims create outside their configured dirs are shared by all
# nodes: only the last node-down removes them (those that were absent before the first node-up).
others=$(find "$ROOT" -mindepth 1 -maxdepth 1 -type d ! -path "$S" | head -1)
if [[ -n $others ]]; then
  log "other nodes still up ($others): leaving /var/lib/kubelet, /var/lib/cni, /run/netns"
  BASE=/dev/null
fi
if grep -q '^var_lib_kubelet=0' "$BASE" 2>/dev/null && [[ -d /var/lib/kubelet ]]; then
  rm -rf /var/lib/kubelet && log "removed /var/lib/kubelet (device-plugins dir)"
fi
if grep -q '^run_containerd=0' "$BASE" 2>/dev/null && [[ -d /run/containerd ]]; then
  # Only the (now empty) shim socket dir /run/containerd/s is expected here.
  find /run/containerd -depth -type d -empty -delete 2>/dev/null
  [[ -d /run/containerd ]] && log "WARNING: /run/containerd not empty: $(find /run/containerd | head)"
fi
if grep -q '^run_spire=0' "$BASE" 2>/dev/null && [[ -d /run/spire ]]; then
  rmdir /run/spire && log "removed /run/spire (real mode's mount point)"
fi
if grep -q '^var_lib_cni=0' "$BASE" 2>/dev/null && [[ -d /var/lib/cni ]]; then
  # containerd's CNI library caches results in /var/lib/cni/results (not configurable in 1.6).
  rm -rf /var/lib/cni && log "removed /var/lib/cni (CNI result cache)"
fi
if grep -q '^run_netns=0' "$BASE" 2>/dev/null && [[ -d /run/netns ]] && [[ -z $(ls -A /run/netns) ]]; then
  # `ip netns add` made /run/netns a (shared) bind mount of itself.
  while mountpoint -q /run/netns; do umount /run/netns || break; done
  rmdir /run/netns && log "removed /run/netns"
fi
rm -rf "$S" && log "removed $S"
if [[ -z $others ]]; then rm -f "$ROOT/baseline"; rmdir "$ROOT" 2>/dev/null || true; fi
