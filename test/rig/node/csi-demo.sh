#!/usr/bin/env bash
# CSI on the real node, no hostPath: spiffe-csi-driver (built by bin-build, data-plane recipe)
# runs as a host process next to the kubelet, csi-register (./csi-register, our stand-in for
# node-driver-registrar) announces it to the kubelet's plugin watcher, and a pod mounts an
# inline ephemeral csi.spiffe.io volume: the driver bind-mounts the (would-be) SPIRE agent
# socket directory into the pod.
# Usage: csi-demo.sh [CLUSTER_INDEX] [--keep]   (after node-up.sh; node-down.sh stops it all)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
I=${1:-1}
KEEP=${2:-}
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
NS=real-node-csi
DRIVER=csi.spiffe.io
# shellcheck disable=SC1091
source "$CACHE/bin/manifest.env"
[[ -x ${RIG_SPIFFE_CSI_DRIVER:-} ]] || { echo "build it: bash test/rig/bin-build/build.sh spiffe-csi-driver" >&2; exit 1; }
REG=$CACHE/node-bin/csi-register
if [[ ! -x $REG ]]; then
  (cd "$HERE/csi-register" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$REG" .)
fi
kc() { "$RIG_KUBECTL" --kubeconfig "$RIG_STATE/cluster-$I/kubeconfig" "$@"; }
step() { echo; echo "==== $*"; }
running() { local p; p=$(cat "$S/$1.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null; }
start() {
  local name=$1; shift
  running "$name" && return
  echo "=== $(date -Is) $*" >>"$S/$name.log"
  setsid "$@" >>"$S/$name.log" 2>&1 </dev/null &
  echo $! >"$S/$name.pid"
}

step "driver and registration helper"
mkdir -p "$S/csi" "$S/spire-agent-socket"
echo "placeholder for the SPIRE agent's socket dir on $NODE" >"$S/spire-agent-socket/README"
start spiffe-csi-driver "$RIG_SPIFFE_CSI_DRIVER" -node-id "$NODE" \
  -csi-socket-path "$S/csi/csi.sock" -workload-api-socket-dir "$S/spire-agent-socket"
start csi-register "$REG" -driver-name "$DRIVER" -csi-endpoint "$S/csi/csi.sock" \
  -registration-dir "$S/kubelet/plugins_registry"
kc apply -f - <<EOF
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: $DRIVER}
spec:
  attachRequired: false
  podInfoOnMount: true
  fsGroupPolicy: None
  volumeLifecycleModes: [Ephemeral]
EOF
for _ in $(seq 60); do
  d=$(kc get csinode "$NODE" -o jsonpath='{.spec.drivers[*].name}' 2>/dev/null || true)
  [[ $d == *"$DRIVER"* ]] && break
  sleep 0.5
done
echo "CSINode $NODE drivers: $d"
[[ $d == *"$DRIVER"* ]] || { echo "FAIL: kubelet did not register $DRIVER"; tail -5 "$S/csi-register.log"; exit 1; }
tail -3 "$S/csi-register.log"

step "pod with an inline $DRIVER volume"
kc create namespace "$NS" --dry-run=client -o yaml | kc apply -f -
kc apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata: {name: csi-client, namespace: $NS}
spec:
  nodeSelector: {mesh-rig.test/real-node: "true"}
  tolerations: [{key: mesh-rig.test/real-node, operator: Exists, effect: NoSchedule}]
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: docker.io/library/busybox:mesh-rig
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    volumeMounts: [{name: spiffe, mountPath: /spiffe-workload-api, readOnly: true}]
  volumes:
  - name: spiffe
    csi: {driver: $DRIVER, readOnly: true}
EOF
kc -n "$NS" wait pod/csi-client --for=condition=Ready --timeout=90s
kc -n "$NS" exec csi-client -- sh -c 'ls -la /spiffe-workload-api; cat /spiffe-workload-api/README; grep spiffe-workload-api /proc/mounts; touch /spiffe-workload-api/x 2>&1 || true'
grep -E 'Volume published' "$S/spiffe-csi-driver.log" | tail -1

if [[ $KEEP != --keep ]]; then
  step "cleanup"
  kc delete namespace "$NS" --wait=true --timeout=120s
  grep -E 'Volume unpublished' "$S/spiffe-csi-driver.log" | tail -1
  kc delete csidriver "$DRIVER"
fi
step "CSI CHECK PASSED"
