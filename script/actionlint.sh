#!/usr/bin/env bash
# Lints every workflow with actionlint, built from its Go module by the rig's
# binary build (cached outside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${MESH_RIG_CACHE:-$HOME/.cache/mesh-federation/rig}"
bash test/rig/bin-build/build.sh actionlint >/dev/null
# shellcheck disable=SC1091
source "$cache/bin/manifest.env"
"$RIG_ACTIONLINT" -color=false .github/workflows/*.yml
echo "actionlint: $(ls .github/workflows/*.yml | wc -l) workflows clean"
