#!/usr/bin/env bash
# Evidence that the action's own SPIRE runs on a cluster's real node (real mode, NOTES.md
# "Real SPIRE"), read through the API server like a user would: pods and their node, the server's
# agents, its X.509 CA chained to the cert-manager root, the registrar's entries, the bundles held.
# Usage: spire-proof.sh [CLUSTER_INDEX]   (same env as node-up.sh). Prints certificates' subjects
# and issuers, never a key or token. Exit 1 when a check fails.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
I=${1:-1}
# shellcheck source=env.sh
source "$HERE/env.sh"
# shellcheck disable=SC1091
source "$CACHE/bin/manifest.env"
kc() { "$RIG_KUBECTL" --kubeconfig "$CDIR/kubeconfig" "$@"; }
# The server's CLI as the action runs it (src/cluster/spire-cli.ts): ./bin/spire-server in /opt/spire.
srv() { kc -n spire exec spire-server-0 -c spire-server -- ./bin/spire-server "$@" -socketPath /run/spire/sockets/server.sock; }
bad=0
check() { # what command...: prints ok/FAIL
  if "${@:2}" >/dev/null 2>&1; then echo "ok   $1"; else echo "FAIL $1"; bad=1; fi
}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "== $CL: SPIRE pods"
kc -n spire get pods -o wide
check "spire-server-0 runs on $NODE" bash -c "[[ \$('$RIG_KUBECTL' --kubeconfig '$CDIR/kubeconfig' -n spire get pod spire-server-0 -o jsonpath='{.spec.nodeName}') == '$NODE' ]]"

echo "== agents attested (k8s_psat)"
srv agent list | tee "$T/agents"
check "an agent of $NODE attested by k8s_psat" grep -q "spiffe://.*/spire/agent/k8s_psat/$CL/" "$T/agents"

echo "== the server's X.509 CA is signed by the cert-manager root"
kc -n cert-manager get secret mesh-root-ca -o jsonpath='{.data.ca\.crt}' | base64 -d >"$T/root.pem"
td=$(kc -n spire get cm spire-server -o jsonpath='{.data.server\.conf}' | sed -n 's/.*trust_domain *= *"\(.*\)".*/\1/p')
# `x509 mint` prints "X509-SVID:" (leaf, then SPIRE's intermediate), "Private key:", "Root CAs:":
# keep the certificates of the first and last sections, never the key.
srv x509 mint -spiffeID "spiffe://$td/mesh-rig/proof" -ttl 1m | awk -v d="$T" '
  /^X509-SVID:/ {s="svid"} /^Private key:/ {s=""} /^Root CAs:/ {s="root"}
  /BEGIN CERTIFICATE/ && s != "" {n[s]++; f=d "/" s "-" n[s] ".pem"}
  s != "" && f != "" {print > f} /END CERTIFICATE/ {f=""}'
for f in "$T"/svid-*.pem; do openssl x509 -in "$f" -noout -subject -issuer -ext subjectAltName 2>/dev/null; done
openssl x509 -in "$T/root.pem" -noout -subject -fingerprint -sha256
check "leaf <- SPIRE CA <- cert-manager root verifies" \
  openssl verify -CAfile "$T/root.pem" -untrusted "$T/svid-2.pem" "$T/svid-1.pem"
check "the trust bundle holds the cert-manager root" \
  bash -c "openssl x509 -in '$T/root-1.pem' -noout -fingerprint -sha256 | grep -qF \"\$(openssl x509 -in '$T/root.pem' -noout -fingerprint -sha256)\""

echo "== registration entries made by the k8s-workload-registrar"
srv entry show | tee "$T/entries" | grep -E "SPIFFE ID|Parent ID" | sort | uniq -c | sort -rn | head -20
check "pod entries (spiffe://<td>/ns/<ns>/sa/<sa>) exist" grep -q "SPIFFE ID *: spiffe://.*/ns/.*/sa/" "$T/entries"

echo "== federated bundles held"
# `bundle list` names each federated trust domain on a "* <td>" line, then its certificates.
srv bundle list | tee "$T/bundles" | grep -E "^\* " || true
check "holds another trust domain's bundle" grep -qE "^\* [a-z0-9.-]+$" "$T/bundles"
exit $bad
