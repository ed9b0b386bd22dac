#!/usr/bin/env bash
# Build (or reuse from cache) SPIRE's k8s-workload-registrar (deprecated
# upstream, still in the main spire module up to v1.6.x) for the test rig.
#
# Usage: build.sh            prints `k8s-workload-registrar <version> <path>`
#
# Cached at $CACHE/bin/k8s-workload-registrar-<version>-<key>/k8s-workload-registrar
# like the binaries of ../build.sh; <key> hashes go.mod, go.sum and the build
# flags. A cached binary whose `-version` prints the pinned version is a hit
# and no Go command runs.
#
# Env: MESH_RIG_CACHE (cache root).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MESH_RIG_CACHE:-$HOME/.cache/mesh-federation/rig}
BIN=$CACHE/bin
NAME=k8s-workload-registrar
MOD=github.com/spiffe/spire
PKG=$MOD/support/k8s/k8s-workload-registrar
# Pure Go: unlike spire-server it links no sqlite.
CGO=0

VERSION=$(awk -v m="$MOD" '($1 == m) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$HERE/go.mod")
[[ -n $VERSION ]] || { echo "build.sh: $MOD is not required in $HERE/go.mod" >&2; exit 1; }
# Without the tag, -version prints "<base>-dev-unk".
LDFLAGS="-s -w -X $MOD/pkg/common/version.gittag=${VERSION#v}"

KEY=$( { printf '%s\n' "$NAME" "$PKG" "$CGO" "$LDFLAGS"; cat "$HERE/go.mod" "$HERE/go.sum"; } |
  sha256sum | cut -c1-12)
DIR=$BIN/$NAME-$VERSION-$KEY
OUT=$DIR/$NAME

works() {
  [[ -x $1 ]] && [[ $(cd / && timeout 30 "$1" -version 2>&1) == "${VERSION#v}" ]]
}

if works "$OUT"; then
  echo "cache hit $NAME $OUT" >&2
else
  command -v go >/dev/null || { echo "build.sh: go is not on PATH" >&2; exit 1; }
  mkdir -p "$BIN"
  tmp=$(mktemp -d "$BIN/.tmp-$NAME-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  t0=$SECONDS
  (cd "$HERE" && CGO_ENABLED=$CGO go build -mod=readonly -buildvcs=false -trimpath \
    -ldflags="$LDFLAGS" -o "$tmp/$NAME" "$PKG")
  works "$tmp/$NAME" || { echo "build.sh: built $NAME does not report ${VERSION#v}" >&2; exit 1; }
  printf 'name=%s version=%s pkg=%s go=%s cgo=%s seconds=%s\nldflags=%s\n' \
    "$NAME" "$VERSION" "$PKG" "$(go env GOVERSION)" "$CGO" "$((SECONDS - t0))" "$LDFLAGS" >"$tmp/BUILDINFO"
  chmod 0755 "$tmp"
  # A leftover entry that failed the check above is replaced.
  works "$OUT" || rm -rf "$DIR"
  # Rename into place; if a concurrent run won, keep its (verified) binary.
  if ! mv -T "$tmp" "$DIR" 2>/dev/null; then works "$OUT" || exit 1; fi
  echo "built $NAME in $((SECONDS - t0))s" >&2
fi
echo "$NAME $VERSION $OUT"
