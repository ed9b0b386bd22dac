#!/usr/bin/env bash
# Build (or reuse from cache) cert-manager-controller: the real cert-manager
# v1.15.1 controllers behind our own main.go (the proxy does not serve
# upstream's cmd/controller module).
#
# Usage: build.sh            prints `cert-manager-controller <version> <path>`
#
# Cached at $CACHE/bin/cert-manager-controller-<version>-<key>/cert-manager-controller
# like the binaries of ../build.sh; <key> hashes go.mod, go.sum, main.go and
# the build flags. A cached binary whose `--version` shows the pinned version
# is a hit and no Go command runs.
#
# Env: MESH_RIG_CACHE (cache root).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MESH_RIG_CACHE:-$HOME/.cache/mesh-federation/rig}
BIN=$CACHE/bin
NAME=cert-manager-controller
MOD=github.com/cert-manager/cert-manager
CGO=0

VERSION=$(awk -v m="$MOD" '($1 == m) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$HERE/go.mod")
[[ -n $VERSION ]] || { echo "build.sh: $MOD is not required in $HERE/go.mod" >&2; exit 1; }
# main.go states the version it was written for; keep the two in step.
grep -q "const version = \"$VERSION\"" "$HERE/main.go" ||
  { echo "build.sh: main.go's version constant differs from the $MOD pin $VERSION" >&2; exit 1; }

FLAGS="-mod=readonly -buildvcs=false -trimpath -ldflags=-s -w"
KEY=$( { printf '%s\n' "$NAME" "$CGO" "$FLAGS"; cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/main.go"; } |
  sha256sum | cut -c1-12)
DIR=$BIN/$NAME-$VERSION-$KEY
OUT=$DIR/$NAME

works() {
  [[ -x $1 ]] && [[ $(cd / && timeout 30 "$1" --version 2>&1) == *" $VERSION" ]]
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
    -ldflags='-s -w' -o "$tmp/$NAME" .)
  works "$tmp/$NAME" || { echo "build.sh: built $NAME does not report $VERSION" >&2; exit 1; }
  printf 'name=%s version=%s module=%s go=%s cgo=%s seconds=%s\n' \
    "$NAME" "$VERSION" "$MOD" "$(go env GOVERSION)" "$CGO" "$((SECONDS - t0))" >"$tmp/BUILDINFO"
  chmod 0755 "$tmp"
  # A leftover entry that failed the check above is replaced.
  works "$OUT" || rm -rf "$DIR"
  # Rename into place; if a concurrent run won, keep its (verified) binary.
  if ! mv -T "$tmp" "$DIR" 2>/dev/null; then works "$OUT" || exit 1; fi
  echo "built $NAME in $((SECONDS - t0))s" >&2
fi
echo "$NAME $VERSION $OUT"
