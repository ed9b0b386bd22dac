#!/usr/bin/env bash
# Join one REAL node (kubelet + containerd + runc) to a running rig cluster (`npm run rig:up`).
#
# Usage: node-up.sh [CLUSTER_INDEX]          (default 1: cluster-1)
# Env:   MESH_RIG_STATE, MESH_RIG_CACHE, MESH_RIG_INSTANCE, MESH_NODE_STATE (see env.sh)
# Stop and clean up with node-down.sh [CLUSTER_INDEX]. See NOTES.md.
#
# Layout (i = CLUSTER_INDEX, node name cluster-<i>-real-1; names and addresses for MESH_RIG_INSTANCE
# 0, other instances get their own, see env.sh):
#   netns mrig-c<i>n1, veth mrig<i>h (host, 10.240.<i>.1/24) <-> mrig<i>n (node, 10.240.<i>.2/24)
#   pods on bridge mrig0 inside the netns, 10.241.<i>.0/24 (host-local IPAM); no default route
#   and host ip_forward stays 0: nothing can leave the machine.
#   containerd and kubelet run in that netns (nsenter --net only: they share the host mount
#   namespace, so kubelet's volume mounts are visible to containerd).
#   kubelet -> apiserver: 127.0.0.1:<apiserver port> inside the netns, relayed by two socats
#   through a unix socket to the host's 127.0.0.1:<port> (so the serving cert's SANs match).
#   apiserver -> kubelet: 10.240.<i>.2:10250 (the node's InternalIP, over the veth); the
#   kubelet listens on 0.0.0.0 inside the netns, so hostNetwork pods reach it on 127.0.0.1.
#   The apiserver verifies the kubelet's serving cert (cluster CA) and presents its
#   kube-apiserver-kubelet-client cert; the kubelet authenticates and authorizes every caller
#   through the API server (webhook: TokenReview, SubjectAccessReview), no anonymous access.
#   kube-proxy (iptables) in the netns; the CNI chain bridge -> mesh-rig-svc makes the rig's
#   loopback ClusterIPs (127.<100+n>.0.0/16) routable from pods; `kubernetes` ClusterIP ->
#   EndpointSlice kubernetes-<node> -> 10.240.<i>.2:6443 -> the same unix-socket relay.
#   The node is tainted and labelled mesh-rig.test/real-node=true; kwok leaves it alone: the
#   rig runs kwok with --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake, which
#   only the rig's fake nodes carry (and the Lease is taken in the node's own name first, for
#   rigs started before that flag; see NOTES.md).
# Real mode (the rig was started with MESH_RIG_REAL, e.g. spire): the node is not tainted (the
#   rig taints its kwok nodes instead and pins other pods there, test/rig/placement-policy.ts),
#   runs in its own mount namespace $S/mntns where /var/lib/kubelet (the kubelet's root dir) and
#   /run/spire are its own (the action's DaemonSet names those host paths, and two nodes share
#   this host), imports the images of images.sh, runs CoreDNS (coredns.yaml) with the kubelet's
#   clusterDNS on it, and joins the instance's backbone netns so pods reach the other clusters'
#   pods and LoadBalancer addresses. See NOTES.md, "Real SPIRE".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
I=${1:-1}
# RIG_STATE CACHE CL CDIR NODE S NETNS VH VN HOST_IP NODE_IP POD_CIDR CGROOT (instance-aware)
# shellcheck source=env.sh
source "$HERE/env.sh"
IMAGES=$CACHE/node-images
TAINT_KEY=mesh-rig.test/real-node

log() { echo "node-up[$NODE] $(date +%T) $*" >&2; }
die() { echo "node-up[$NODE]: $*" >&2; exit 1; }

for c in containerd containerd-shim-runc-v2 runc ctr socat nsenter ip gcc jq openssl busybox; do
  command -v "$c" >/dev/null || die "$c is not installed (see NOTES.md)"
done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
  die "containernetworking-plugins missing (/usr/lib/cni)"
# shellcheck disable=SC1091
source "$CACHE/bin/manifest.env"
[[ -x ${RIG_KUBELET:-} ]] || die "no kubelet in $CACHE/bin/manifest.env: bash test/rig/bin-build/build.sh kubelet"
[[ -x ${RIG_KUBECTL:-} ]] || die "no kubectl in $CACHE/bin/manifest.env"
[[ -f $CDIR/kubeconfig && -f $CDIR/pki/ca.key ]] || die "$CL is not up ($CDIR): npm run rig:up"
SVC_CIDR=$(jq -r '.argv[] | select(startswith("--service-cluster-ip-range=")) | sub(".*=";"")' "$CDIR/kube-apiserver.pid")
[[ -n $SVC_CIDR ]] || die "no --service-cluster-ip-range in $CDIR/kube-apiserver.pid"
API_PORT=$(sed -n 's|.*server: https://127.0.0.1:\([0-9]*\).*|\1|p' "$CDIR/kubeconfig" | head -1)
[[ -n $API_PORT ]] || die "no apiserver port in $CDIR/kubeconfig"
kc() { "$RIG_KUBECTL" --kubeconfig "$CDIR/kubeconfig" "$@"; }
# How node processes are started: in the node netns, and in real mode in its mount namespace.
NSENTER=(nsenter --net="/run/netns/$NETNS")
KUBELET_ROOT=$S/kubelet
if [[ -n $REAL_NS ]]; then
  NSENTER+=(--mount="$MNTNS")
  KUBELET_ROOT=/var/lib/kubelet
  SVC_PREFIX=${SVC_CIDR%.0.0/16}
  [[ $SVC_PREFIX != "$SVC_CIDR" ]] || die "service CIDR $SVC_CIDR is not a /16"
  DNS_IP=$SVC_PREFIX.0.10
  log "real mode for namespaces $REAL_NS"
fi

mkdir -p "$S"
T0=$(date +%s.%N)

# ---- process helpers: pid files in $S, each process its own session (group) -------------
alive() { [[ -r /proc/$1/stat ]] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null; }
running() { local p; p=$(cat "$S/$1.pid" 2>/dev/null) && alive "$p"; }
start() {
  local name=$1; shift
  if running "$name"; then log "$name already running (pid $(cat "$S/$name.pid"))"; return; fi
  echo "=== $(date -Is) $*" >>"$S/$name.log"
  setsid "$@" >>"$S/$name.log" 2>&1 </dev/null &
  echo $! >"$S/$name.pid"
  log "started $name (pid $!)"
}
wait_for() { # what seconds cmd...
  local what=$1 n=$2; shift 2
  for ((k = 0; k < n * 4; k++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  die "timed out after ${n}s waiting for $what"
}

# ---- baseline of host state we may touch (node-down.sh removes only what is new) ----------
# One baseline for all nodes, written by the first node-up (no other node state yet).
ROOT=$(dirname "$S")
if [[ ! -f $ROOT/baseline ]]; then
  {
    echo "var_lib_kubelet=$([[ -e /var/lib/kubelet ]] && echo 1 || echo 0)"
    echo "run_containerd=$([[ -e /run/containerd ]] && echo 1 || echo 0)"
    echo "var_lib_cni=$([[ -e /var/lib/cni ]] && echo 1 || echo 0)"
    echo "run_netns=$([[ -e /run/netns ]] && echo 1 || echo 0)"
    echo "run_spire=$([[ -e /run/spire ]] && echo 1 || echo 0)"
    echo "netns=$(ls /run/netns 2>/dev/null | tr '\n' ' ')"
  } >"$ROOT/baseline"
fi

# ---- images: pause (sandbox) and a busybox image, as OCI archives --------------------------
# Archives are cached under a hash of their inputs: PAUSE_TAR and BUSYBOX_TAR are set here.
build_images() {
  mkdir -p "$IMAGES"
  local kp kb
  kp=$(cat "$HERE/pause.c" "$HERE/mkimage.sh" | sha256sum | cut -c1-12)
  kb=$( { cat "$HERE/mkimage.sh" "$HERE/kube-probe/main.go"; busybox 2>&1 | head -1; go version; } | sha256sum | cut -c1-12)
  PAUSE_TAR=$IMAGES/pause-$kp.tar BUSYBOX_TAR=$IMAGES/busybox-$kb.tar
  if [[ ! -f $PAUSE_TAR ]]; then
    local r; r=$(mktemp -d)
    gcc -static -O2 -s -o "$r/pause" "$HERE/pause.c"
    "$HERE/mkimage.sh" "$r" registry.k8s.io/pause:3.10 "$PAUSE_TAR" \
      '{"Entrypoint":["/pause"],"User":"65535:65535"}' >&2
    rm -rf "$r"
  fi
  if [[ ! -f $BUSYBOX_TAR ]]; then
    local r a; r=$(mktemp -d)
    mkdir -p "$r/bin" "$r/etc" "$r/www" "$r/tmp" "$r/root"
    chmod 1777 "$r/tmp"
    cp "$(command -v busybox)" "$r/bin/busybox"
    for a in $("$r/bin/busybox" --list); do [[ $a == busybox ]] || ln -s busybox "$r/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$r/etc/group"
    echo 'mesh-rig busybox image' >"$r/www/index.html"
    # kube-probe: an in-cluster API client (standard library only, static).
    (cd "$HERE/kube-probe" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$r/bin/kube-probe" main.go)
    "$HERE/mkimage.sh" "$r" docker.io/library/busybox:mesh-rig "$BUSYBOX_TAR" \
      '{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]}' >&2
    rm -rf "$r"
  fi
}

# ---- network namespace ---------------------------------------------------------------------
setup_netns() {
  if ! ip netns list | grep -qw "$NETNS"; then
    # A node taken down just before may leave its host end behind while its old netns is still
    # held by an exiting process; deleting that end takes the pair.
    if ip link show "$VH" >/dev/null 2>&1; then
      ip link del "$VH"
      log "removed $VH left by an earlier node"
    fi
    ip netns add "$NETNS"
    ip link add "$VH" type veth peer name "$VN" netns "$NETNS"
    ip addr add "$HOST_IP/24" dev "$VH"
    ip link set "$VH" up
    ip -n "$NETNS" link set lo up
    ip -n "$NETNS" addr add "$NODE_IP/24" dev "$VN"
    ip -n "$NETNS" link set "$VN" up
    # host -> pods (debugging, curl from the host); goes away with the veth.
    ip route add "$POD_CIDR" via "$NODE_IP" dev "$VH"
    log "netns $NETNS: host $HOST_IP <-> node $NODE_IP, pods $POD_CIDR"
  fi
}
inns() { nsenter --net="/run/netns/$NETNS" "$@"; }

# ---- PKI: node client cert (Node authorizer identity) and kubelet serving cert --------------
issue() { # name subject ext
  local n=$1
  [[ -f $S/pki/$n.crt ]] && return
  openssl ecparam -name prime256v1 -genkey -noout -out "$S/pki/$n.key" 2>/dev/null
  openssl req -new -key "$S/pki/$n.key" -subj "$2" -out "$S/pki/$n.csr" 2>/dev/null
  openssl x509 -req -in "$S/pki/$n.csr" -CA "$CDIR/pki/ca.crt" -CAkey "$CDIR/pki/ca.key" \
    -set_serial "0x$(openssl rand -hex 12)" -days 365 -out "$S/pki/$n.crt" \
    -extfile <(printf '%b' "$3") 2>/dev/null
  chmod 600 "$S/pki/$n.key"
}
setup_pki() {
  mkdir -p "$S/pki"
  cp "$CDIR/pki/ca.crt" "$S/pki/ca.crt"
  issue kubelet-client "/O=system:nodes/CN=system:node:$NODE" \
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
  issue kubelet-serving "/O=system:nodes/CN=system:node:$NODE" \
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:$NODE,IP:$NODE_IP\n"
  issue kube-proxy "/CN=system:kube-proxy" \
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
  write_kubeconfig kube-proxy system:kube-proxy
  cat >"$S/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CL
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $S/pki/ca.crt
users:
- name: $NODE
  user:
    client-certificate: $S/pki/kubelet-client.crt
    client-key: $S/pki/kubelet-client.key
contexts:
- name: $NODE
  context: {cluster: $CL, user: $NODE}
current-context: $NODE
EOF
  chmod 600 "$S/kubelet.kubeconfig"
}

write_kubeconfig() { # cert-name user
  cat >"$S/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CL
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: $S/pki/ca.crt}
users:
- name: $2
  user: {client-certificate: $S/pki/$1.crt, client-key: $S/pki/$1.key}
contexts:
- name: $2
  context: {cluster: $CL, user: $2}
current-context: $2
EOF
  chmod 600 "$S/$1.kubeconfig"
}

# ---- apiserver relay into the netns ---------------------------------------------------------
setup_relay() {
  start api-relay-host socat "UNIX-LISTEN:$S/apiserver.sock,fork,unlink-early,mode=600" "TCP:127.0.0.1:$API_PORT"
  wait_for "relay socket" 10 test -S "$S/apiserver.sock"
  start api-relay-node "${NSENTER[@]}" \
    socat "TCP-LISTEN:$API_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$S/apiserver.sock"
  wait_for "apiserver through the relay" 20 inns bash -c "exec 3<>/dev/tcp/127.0.0.1/$API_PORT"
  # For pods: the `kubernetes` Service (ClusterIP :443) gets an EndpointSlice to the node IP
  # :6443, relayed the same way (the rig's apiserver endpoint 127.0.0.1 is not a valid
  # endpoint, and the rig runs with --endpoint-reconciler-type=none).
  start api-relay-pods "${NSENTER[@]}" \
    socat "TCP-LISTEN:6443,bind=$NODE_IP,fork,reuseaddr" "UNIX-CONNECT:$S/apiserver.sock"
  kc apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes-$NODE
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: mesh-rig-node}
addressType: IPv4
ports: [{name: https, port: 6443, protocol: TCP}]
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
  nodeName: $NODE
EOF
}

# ---- cgroups: everything of this node under /<CGROOT> in every v1 hierarchy ---------------
setup_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -e $h/cgroup.procs && $h != */unified/ ]] || continue
    mkdir -p "$h$CGROOT"
  done
  if [[ -d /sys/fs/cgroup/cpuset/$CGROOT ]]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$CGROOT/cpuset.cpus"
    cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$CGROOT/cpuset.mems"
  fi
}

# ---- containerd ----------------------------------------------------------------------------
setup_containerd() {
  # Real mode: pods route every cluster's LoadBalancer pool (127.<200+NET>.0.0/24) like ClusterIPs.
  # The other clusters' service CIDRs too: their `kubernetes` ClusterIP is how this cluster's
  # istiod reaches their API servers (the action's api-servers input, written into remote secrets).
  local LB_CIDRS='[]'
  [[ -z $REAL_NS ]] || LB_CIDRS=$(for j in $(cluster_indexes); do
    echo "127.$((200 + 10 * RIG_INSTANCE + j)).0.0/24"
    [[ $j == "$I" ]] || svc_cidr "$j"
  done | jq -Rnc '[inputs]')
  mkdir -p "$S/containerd" "$S/cni/net.d" "$S/cni/bin" "$S/cni-ipam" "$S/runc"
  # containerd 1.6 takes one CNI bin_dir: Debian's plugins plus our mesh-rig-svc.
  local f
  for f in /usr/lib/cni/*; do ln -sfn "$f" "$S/cni/bin/"; done
  install -m 0755 "$HERE/mesh-rig-svc" "$S/cni/bin/mesh-rig-svc"
  cat >"$S/containerd/config.toml" <<EOF
# Written by test/rig/node/node-up.sh for $NODE.
version = 2
root = "$S/containerd/root"
state = "$S/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$S/containerd/containerd.sock"
[ttrpc]
  address = "$S/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$S/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # root here lacks CAP_SYS_RESOURCE: an oom_score_adj below ours makes runc fail.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$S/runc"
$([[ -z $REAL_NS ]] || printf '  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."mesh-rig.local"]\n    endpoint = ["http://127.0.0.1:%s"]\n' "$REG_PORT")
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$S/cni/bin"
    conf_dir = "$S/cni/net.d"
    max_conf_num = 1
EOF
  cat >"$S/cni/net.d/10-mesh-rig.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "mesh-rig",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "mrig0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$S/cni-ipam",
        "ranges": [[{ "subnet": "$POD_CIDR" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "mesh-rig-svc", "serviceCidr": "$SVC_CIDR", "lbCidrs": $LB_CIDRS }
  ]
}
EOF
  start containerd "${NSENTER[@]}" containerd --config "$S/containerd/config.toml"
  wait_for containerd 30 ctr --address "$S/containerd/containerd.sock" version
  local img
  for img in "$PAUSE_TAR" "$BUSYBOX_TAR"; do
    ctr --address "$S/containerd/containerd.sock" -n k8s.io images import "$img" >&2
  done
  # Real mode: the images the action's manifests name (test/rig/node/images.sh builds them).
  if [[ -n $REAL_NS ]]; then
    [[ -f $IMAGES/images-$PROFILE.txt ]] || die "no $IMAGES/images-$PROFILE.txt: bash test/rig/node/images.sh --profile $PROFILE"
    local ref tar n=0
    while read -r ref tar; do
      ctr --address "$S/containerd/containerd.sock" -n k8s.io images import "$tar" >/dev/null
      n=$((n + 1))
    done <"$IMAGES/images-$PROFILE.txt"
    log "imported $n images from $IMAGES/images-$PROFILE.txt"
    setup_registry
  fi
}

# Real mode: the instance's registry (started by the first node, stopped by the last), the
# mesh-rig.local images pushed into it from this node's containerd, and a relay so that this
# node's containerd reaches it on 127.0.0.1:REG_PORT in the node netns.
setup_registry() {
  command -v docker-registry >/dev/null || die "docker-registry is not installed (apt-get install -y docker-registry)"
  mkdir -p "$REG_DIR/data"
  if ! { p=$(cat "$REG_DIR/registry.pid" 2>/dev/null) && alive "$p"; }; then
    printf 'version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "127.0.0.1:%s"}\n' \
      "$REG_DIR/data" "$REG_PORT" >"$REG_DIR/config.yml"
    setsid docker-registry serve "$REG_DIR/config.yml" >>"$REG_DIR/registry.log" 2>&1 </dev/null &
    echo $! >"$REG_DIR/registry.pid"
    log "started registry 127.0.0.1:$REG_PORT (pid $!)"
  fi
  wait_for registry 20 curl -sf "http://127.0.0.1:$REG_PORT/v2/"
  local ref to n=0
  for ref in $(awk '$1 ~ /^mesh-rig\.local\// {print $1}' "$IMAGES/images-$PROFILE.txt"); do
    to=127.0.0.1:$REG_PORT/${ref#mesh-rig.local/}
    ctr --address "$S/containerd/containerd.sock" -n k8s.io images tag --force "$ref" "$to" >/dev/null
    ctr --address "$S/containerd/containerd.sock" -n k8s.io images push --plain-http "$to" >/dev/null
    ctr --address "$S/containerd/containerd.sock" -n k8s.io images rm "$to" >/dev/null
    n=$((n + 1))
  done
  start registry-relay-host socat "UNIX-LISTEN:$S/registry.sock,fork,unlink-early,mode=600" "TCP:127.0.0.1:$REG_PORT"
  wait_for "registry relay socket" 10 test -S "$S/registry.sock"
  start registry-relay-node "${NSENTER[@]}" \
    socat "TCP-LISTEN:$REG_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$S/registry.sock"
  log "registry mesh-rig.local -> 127.0.0.1:$REG_PORT: $n images pushed"
}

# ---- kubelet -------------------------------------------------------------------------------
setup_kubelet() {
  mkdir -p "$S/kubelet" "$S/pod-logs" "$S/volume-plugins"
  cat >"$S/kubelet-config.yaml" <<EOF
# Written by test/rig/node/node-up.sh for $NODE.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROOT
containerRuntimeEndpoint: unix://$S/containerd/containerd.sock
imageServiceEndpoint: unix://$S/containerd/containerd.sock
# All addresses of the node netns: the apiserver dials $NODE_IP, hostNetwork pods (the SPIRE
# agent's k8s workload attestor) dial 127.0.0.1. Nothing outside the netns can reach it but
# the host through the veth.
address: 0.0.0.0
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $S/pki/kubelet-serving.crt
tlsPrivateKeyFile: $S/pki/kubelet-serving.key
# The apiserver calls with its kube-apiserver-kubelet-client certificate (x509, bound to
# system:kubelet-api-admin by the rig); pods (the SPIRE agent's k8s workload attestor) send
# their SA token (TokenReview) and need nodes/proxy (SubjectAccessReview). No anonymous access.
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true, cacheTTL: 30s}
  x509: {clientCAFile: $S/pki/ca.crt}
authorization:
  mode: Webhook
  webhook: {cacheAuthorizedTTL: 30s, cacheUnauthorizedTTL: 5s}
registerNode: true
$(if [[ -z $REAL_NS ]]; then
  printf 'registerWithTaints:\n- {key: %s, value: "true", effect: NoSchedule}\n' "$TAINT_KEY"
else
  # Real mode: untainted (the kwok nodes are), and cluster DNS is coredns.yaml's kube-dns.
  printf 'clusterDNS: ["%s"]\n' "$DNS_IP"
fi)
podLogsDir: $S/pod-logs
volumePluginDir: $S/volume-plugins
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
maxPods: 30
serializeImagePulls: false
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeLeaseDurationSeconds: 40
EOF
  # The rig's kwok manages only nodes annotated kwok.x-k8s.io/node=fake. A rig started before
  # that (kwok --manage-all-nodes, --node-lease-duration-seconds=40) manages a node while it
  # holds the node's Lease: take the Lease in the node's own name before the Node exists, so
  # such a kwok finds it held and treats the real node (and its pods) as read-only.
  kc apply -f - >/dev/null <<EOF
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: $NODE, namespace: kube-node-lease}
spec:
  holderIdentity: $NODE
  leaseDurationSeconds: 40
  renewTime: "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)"
EOF
  start kubelet "${NSENTER[@]}" "$RIG_KUBELET" \
    --config="$S/kubelet-config.yaml" \
    --kubeconfig="$S/kubelet.kubeconfig" \
    --root-dir="$KUBELET_ROOT" \
    --cert-dir="$S/pki" \
    --hostname-override="$NODE" \
    --node-ip="$NODE_IP" \
    --node-labels="$TAINT_KEY=true,type=real" \
    --v=2
  wait_for "node $NODE Ready" 120 bash -c \
    "[[ \$('$RIG_KUBECTL' --kubeconfig '$CDIR/kubeconfig' get node '$NODE' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}') == True ]]"
}

# ---- kube-proxy (iptables mode, in the node netns; its rules and sysctls stay there) -------
setup_kube_proxy() {
  [[ -x ${RIG_KUBE_PROXY:-} ]] || { log "no kube-proxy built: Services will not work for pods"; return; }
  cat >"$S/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $S/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE
bindAddress: $NODE_IP
nodePortAddresses: ["$NODE_IP/32"]
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# nf_conntrack_max and the conntrack timeouts are host-wide: leave them alone.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start kube-proxy "${NSENTER[@]}" "$RIG_KUBE_PROXY" --config="$S/kube-proxy.yaml" --v=2
}

# ---- real mode: own mount namespace, backbone, cluster DNS --------------------------------
cluster_indexes() { # every cluster of this rig (state dirs cluster-<j>)
  local d
  for d in "$RIG_STATE"/cluster-[1-9]; do [[ -d $d ]] && echo "${d##*-}"; done
}
svc_cidr() { # cluster index -> its service CIDR (from its apiserver's command line)
  jq -r '.argv[] | select(startswith("--service-cluster-ip-range=")) | sub(".*=";"")' \
    "$RIG_STATE/cluster-$1/kube-apiserver.pid"
}
setup_mntns() {
  findmnt -rn "$MNTNS" >/dev/null 2>&1 && return
  # The mount points must exist on the host; node-down.sh removes them if the baseline lacked them.
  mkdir -p /var/lib/kubelet /run/spire "$S/kubelet" "$S/run-spire"
  touch "$MNTNS"
  # Inside: the host's mounts as private copies, then this node's own kubelet root (shared, as
  # the kubelet and Bidirectional propagation want it) and /run/spire.
  unshare --mount="$MNTNS" --propagation private sh -c "
    mount --bind '$S/kubelet' /var/lib/kubelet && mount --make-rshared /var/lib/kubelet &&
    mount --bind '$S/run-spire' /run/spire"
  log "mount namespace $MNTNS: /var/lib/kubelet = $S/kubelet, /run/spire = $S/run-spire"
}
setup_backbone() {
  if ! ip netns list | grep -qw "$BB"; then
    ip netns add "$BB"
    ip -n "$BB" link add mrigbb type bridge
    ip -n "$BB" link set mrigbb up
    log "backbone netns $BB (bridge mrigbb)"
  fi
  if ! ip -n "$NETNS" link show "$VB" >/dev/null 2>&1; then
    ip -n "$NETNS" link add "$VB" type veth peer name "$VBB" netns "$BB"
    ip -n "$BB" link set "$VBB" master mrigbb up
    ip -n "$NETNS" addr add "$BB_IP/24" dev "$VB"
    ip -n "$NETNS" link set "$VB" up
  fi
  # 127/8 is local in every netns, so another cluster's LoadBalancer address would never leave
  # this one: keep local only 127.0.0.0/16 (the relays on 127.0.0.1), this cluster's service
  # CIDR and LoadBalancer pool (kube-proxy DNATs them; a local route lets hostNetwork clients
  # connect before the OUTPUT DNAT), and route the other clusters' via their backbone address.
  local own_lb=127.$((200 + NET)).0.0/24 j net
  ip -n "$NETNS" route replace local 127.0.0.0/16 dev lo table local
  ip -n "$NETNS" route replace local "$SVC_CIDR" dev lo table local
  ip -n "$NETNS" route replace local "$own_lb" dev lo table local
  ip -n "$NETNS" route del local 127.0.0.0/8 dev lo table local 2>/dev/null || true
  inns sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.ip_forward=1
  for j in $(cluster_indexes); do
    [[ $j != "$I" ]] || continue
    net=$((10 * RIG_INSTANCE + j))
    ip -n "$NETNS" route replace "10.241.$net.0/24" via "10.239.$RIG_INSTANCE.$j" dev "$VB"
    ip -n "$NETNS" route replace "127.$((200 + net)).0.0/24" via "10.239.$RIG_INSTANCE.$j" dev "$VB"
    ip -n "$NETNS" route replace "$(svc_cidr "$j")" via "10.239.$RIG_INSTANCE.$j" dev "$VB"
  done
  log "backbone $BB_IP on $VB; routes to the other clusters' pods, Services and LoadBalancer pools"
}
setup_dns() {
  sed -e "s|@DNS_IP@|$DNS_IP|g" -e "s|@IMAGE@|mesh-rig.local/coredns:1.15.0|g" \
    "$HERE/coredns.yaml" | kc apply -f - >/dev/null
  wait_for "CoreDNS Ready" 90 bash -c \
    "[[ \$('$RIG_KUBECTL' --kubeconfig '$CDIR/kubeconfig' -n kube-system get pods -l k8s-app=kube-dns -o jsonpath='{.items[*].status.conditions[?(@.type==\"Ready\")].status}') == *True* ]]"
  log "CoreDNS Ready: cluster DNS at $DNS_IP"
}

build_images
setup_netns
[[ -z $REAL_NS ]] || { setup_mntns; setup_backbone; }
setup_pki
setup_relay
setup_cgroups
setup_containerd
setup_kubelet
setup_kube_proxy
[[ -z $REAL_NS ]] || setup_dns
log "node $NODE Ready in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s (state $S)"
kc get node "$NODE" -o wide
