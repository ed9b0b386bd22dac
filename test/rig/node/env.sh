# Names and addresses of one real node, shared by node-up.sh, node-down.sh, demo.sh and
# csi-demo.sh. Source it after setting I (the cluster index, 1-9).
# Env: MESH_RIG_STATE    the rig's state dir (default /tmp/mesh-rig)
#      MESH_RIG_CACHE    binaries + manifest.env (default ~/.cache/mesh-federation/rig)
#      MESH_RIG_INSTANCE the rig's address plan (default 0; test/rig/layout.ts), so that nodes
#                        of rigs with different instances can run side by side
#      MESH_RIG_PROFILE  seed (default) or current: the images a real node imports
#      MESH_NODE_STATE   the node scripts' state root (default /tmp/mesh-rig-node), shared by
#                        all nodes of all instances (one baseline of host state)
# With n = MESH_RIG_INSTANCE and NET = 10n + I (as layout.ts numbers clusters), node
# cluster-<I>-real-1 gets netns mrig-c<I>n1 (instance 0) or mrig-i<n>c<I>n1, veth
# mrig<NET>h/mrig<NET>n, host 10.240.<NET>.1, node 10.240.<NET>.2, pods 10.241.<NET>.0/24.
# shellcheck shell=bash
[[ $I =~ ^[1-9]$ ]] || { echo "cluster index must be 1-9, not '$I'" >&2; exit 2; }
RIG_STATE=${MESH_RIG_STATE:-/tmp/mesh-rig}
CACHE=${MESH_RIG_CACHE:-$HOME/.cache/mesh-federation/rig}
RIG_INSTANCE=${MESH_RIG_INSTANCE:-0}
[[ $RIG_INSTANCE =~ ^[0-4]$ ]] || { echo "MESH_RIG_INSTANCE must be 0-4" >&2; exit 2; }
NET=$((10 * RIG_INSTANCE + I))
# Instance 0 keeps the names of the first prototype.
TAG=$([[ $RIG_INSTANCE == 0 ]] || echo "i$RIG_INSTANCE-")
CL=cluster-$I
CDIR=$RIG_STATE/$CL
NODE=$CL-real-1
NODE_ROOT=${MESH_NODE_STATE:-/tmp/mesh-rig-node}
S=$NODE_ROOT/$TAG$NODE
NETNS=mrig-${TAG/-/}c${I}n1
VH=mrig${NET}h VN=mrig${NET}n
HOST_IP=10.240.$NET.1 NODE_IP=10.240.$NET.2 POD_CIDR=10.241.$NET.0/24
CGROOT=mesh-rig-$TAG$NODE
# Real mode (the rig's MESH_RIG_REAL, written by `rig up` into $RIG_STATE/real-namespaces): the
# action's pods of those namespaces run on this node. The node then gets its own mount namespace
# MNTNS (with /var/lib/kubelet and /run/spire its own, at the paths the action's hostPath volumes
# name), no taint, cluster DNS, and a leg on the instance's backbone netns BB: veth VB (node,
# 10.239.<n>.<I>) / VBB (bridge mrigbb in BB), over which the clusters' pods reach each other's
# pod and LoadBalancer addresses.
REAL_NS=$(paste -sd, "$RIG_STATE/real-namespaces" 2>/dev/null | sed 's/^,*//; s/,*$//' || true)
# The action's profile the rig runs (MESH_RIG_PROFILE): which of images.sh's sets the node imports.
PROFILE=${MESH_RIG_PROFILE:-seed}
MNTNS=$S/mntns
BB=mrig-${TAG/-/}bb VB=mrigb$NET VBB=mrigB$NET
BB_IP=10.239.$RIG_INSTANCE.$I
# Real mode: a local registry (Debian's docker-registry) per instance on host 127.0.0.1:REG_PORT,
# mirror of `mesh-rig.local` for every node's containerd, so pods whose pull policy is Always (the
# east-west gateway Istio renders) pull the images built here under their own names.
REG_PORT=$((5000 + RIG_INSTANCE)) REG_DIR=${MESH_NODE_STATE:-/tmp/mesh-rig-node}/${TAG}registry
