#!/usr/bin/env bash
# Prove the real node of node-up.sh works through the API server: a Deployment (2 replicas of
# the locally built busybox image) is scheduled onto the real node, becomes Ready, and
# `kubectl logs`, `kubectl exec`, `kubectl port-forward` and pod-to-pod HTTP all work.
# Usage: demo.sh [CLUSTER_INDEX] [--keep]   (--keep leaves the namespace in place)
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR

I=${1:-1}
KEEP=${2:-}
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
NS=real-node-demo
# shellcheck disable=SC1091
source "$CACHE/bin/manifest.env"
kc() { "$RIG_KUBECTL" --kubeconfig "$RIG_STATE/cluster-$I/kubeconfig" "$@"; }
step() { echo; echo "==== $*"; }
t() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$(t)" 'BEGIN{printf "%.1fs", b-a}'; }

step "Deployment $NS/hello on $NODE"
T0=$(t)
kc create namespace "$NS" --dry-run=client -o yaml | kc apply -f -
kc apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: $NS}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      nodeSelector: {mesh-rig.test/real-node: "true"}
      tolerations:
      - {key: mesh-rig.test/real-node, operator: Exists, effect: NoSchedule}
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: docker.io/library/busybox:mesh-rig
        imagePullPolicy: IfNotPresent
        command: [/bin/sh, -c]
        args:
        - echo "hello from \$(hostname) \$(ip -4 -o addr show eth0 | awk '{print \$4}')" > /www/index.html;
          echo "serving \$(cat /www/index.html) on :8080";
          exec httpd -f -vv -p 8080 -h /www
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 2
        resources:
          requests: {cpu: 10m, memory: 16Mi}
          limits: {memory: 64Mi}
EOF
kc -n "$NS" rollout status deploy/hello --timeout=180s
echo "rollout done in $(dt "$T0")"
kc -n "$NS" get pods -o wide
mapfile -t PODS < <(kc -n "$NS" get pods -l app=hello -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
mapfile -t IPS < <(kc -n "$NS" get pods -l app=hello -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}')
for p in "${PODS[@]}"; do
  n=$(kc -n "$NS" get pod "$p" -o jsonpath='{.spec.nodeName}')
  [[ $n == "$NODE" ]] || { echo "FAIL: $p is on $n, not $NODE"; exit 1; }
done
echo "both pods bound to $NODE by the scheduler:"
kc -n "$NS" get events --field-selector reason=Scheduled -o custom-columns=MSG:.message --no-headers

step "kubectl logs ${PODS[0]}"
kc -n "$NS" logs "${PODS[0]}"

step "kubectl exec ${PODS[0]} -- (identity, SA token, cgroup)"
kc -n "$NS" exec "${PODS[0]}" -- sh -c 'id; hostname; ls /var/run/secrets/kubernetes.io/serviceaccount/; head -c 40 /var/run/secrets/kubernetes.io/serviceaccount/token; echo ...; cat /proc/self/cgroup | grep memory'

step "pod-to-pod HTTP: ${PODS[0]} -> ${IPS[1]}:8080 (${PODS[1]})"
out=$(kc -n "$NS" exec "${PODS[0]}" -- wget -qO- "http://${IPS[1]}:8080/")
echo "$out"
[[ $out == *"hello from ${PODS[1]}"* ]] || { echo "FAIL: unexpected answer"; exit 1; }
step "pod-to-pod HTTP: ${PODS[1]} -> ${IPS[0]}:8080 (${PODS[0]})"
kc -n "$NS" exec "${PODS[1]}" -- wget -qO- "http://${IPS[0]}:8080/"

PF_PORT=$((18080 + NET))
step "kubectl port-forward ${PODS[1]} 127.0.0.1:$PF_PORT -> 8080"
pf_log=$(mktemp)
# Not through kc(): $! must be kubectl itself, not a subshell, or kill would miss it.
"$RIG_KUBECTL" --kubeconfig "$RIG_STATE/cluster-$I/kubeconfig" -n "$NS" \
  port-forward --address 127.0.0.1 "pod/${PODS[1]}" "$PF_PORT:8080" >"$pf_log" 2>&1 &
pf=$!
for _ in $(seq 40); do grep -q Forwarding "$pf_log" && break; sleep 0.25; done
out=$(curl -sS --max-time 5 "http://127.0.0.1:$PF_PORT/" || true)
kill "$pf" 2>/dev/null || true
wait "$pf" 2>/dev/null || true
cat "$pf_log"; rm -f "$pf_log"
echo "curl: $out"
[[ $out == *"hello from ${PODS[1]}"* ]] || { echo "FAIL: port-forward"; exit 1; }

step "the access log of ${PODS[1]} (kubectl logs) shows the requests"
kc -n "$NS" logs "${PODS[1]}" | tail -5

step "Service: ${PODS[0]} -> ClusterIP of Service hello (kube-proxy in the node netns)"
kc -n "$NS" apply -f - <<EOF
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{name: http, port: 80, targetPort: 8080}]
EOF
# The rig runs kube-controller-manager without the EndpointSlice controller (kwok's pod IPs
# are loopback addresses, which the API refuses in endpoints): write the slice by hand.
{
  echo "apiVersion: discovery.k8s.io/v1"
  echo "kind: EndpointSlice"
  echo "metadata: {name: hello-manual, labels: {kubernetes.io/service-name: hello, endpointslice.kubernetes.io/managed-by: mesh-rig-demo}}"
  echo "addressType: IPv4"
  echo "ports: [{name: http, port: 8080, protocol: TCP}]"
  echo "endpoints:"
  for k in 0 1; do
    echo "- {addresses: [\"${IPS[$k]}\"], conditions: {ready: true}, nodeName: $NODE}"
  done
} | kc -n "$NS" apply -f -
CIP=$(kc -n "$NS" get svc hello -o jsonpath='{.spec.clusterIP}')
seen=''
for k in $(seq 20); do
  out=$(kc -n "$NS" exec "${PODS[0]}" -- wget -qO- "http://$CIP/" 2>&1 || true)
  [[ $k -le 4 || $out != *hello* ]] && echo "  $CIP -> $out"
  [[ $out == *"hello from"* ]] && seen+=" ${out#hello from }"
  [[ $seen == *"${PODS[0]}"* && $seen == *"${PODS[1]}"* ]] && break
  sleep 0.3
done
[[ $seen == *"${PODS[0]}"* && $seen == *"${PODS[1]}"* ]] || { echo "FAIL: ClusterIP did not reach both pods"; exit 1; }
echo "ClusterIP $CIP reached both pods"

step "webhook served by the pods of Service hello: the rig relays, it neither answers nor injects"
# The rig controller answers webhooks of kwok-backed Services itself and injects its own CA;
# for pods on a real node it must leave caBundle alone and relay ClusterIP:port to the pods.
# httpd speaks plain HTTP, so the API server's TLS call fails (failurePolicy Ignore): httpd's
# log of a connection from the host's veth address proves the call reached a pod through the
# relay (the rig's own allow-all server would have answered it).
OWN_CA=$(base64 -w0 <"$CDIR/pki/ca.crt")
kc apply -f - <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: real-node-demo-hello}
webhooks:
- name: hello.real-node-demo.mesh-rig.test
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  timeoutSeconds: 5
  clientConfig:
    caBundle: $OWN_CA
    service: {namespace: $NS, name: hello, port: 80, path: /validate}
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $NS}}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
EOF
relay=''
for _ in $(seq 40); do
  relay=$(grep -F "$CL webhook validating real-node-demo-hello/" "$RIG_STATE/controller/controller.log" | tail -1 || true)
  [[ $relay == *"relayed to"* ]] && break
  sleep 0.25
done
echo "  rig controller: ${relay#* }"
[[ $relay == *"relayed to"* ]] || { echo "FAIL: the rig controller does not relay the webhook"; exit 1; }
sleep 1
kc create configmap webhook-probe -n "$NS" --from-literal=k=v
ca_now=$(kc get validatingwebhookconfiguration real-node-demo-hello -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
[[ $ca_now == "$OWN_CA" ]] || { echo "FAIL: the rig replaced the webhook's caBundle"; exit 1; }
echo "  caBundle left as written (the cluster CA, not the rig admission CA)"
seen=''
for _ in $(seq 20); do
  seen=$(kc -n "$NS" logs -l app=hello --tail=-1 | grep -F "[::ffff:$HOST_IP]" | head -1 || true)
  [[ -n $seen ]] && break
  sleep 0.25
done
echo "  httpd saw the API server's call via the relay: $seen"
[[ -n $seen ]] || { echo "FAIL: no connection from $HOST_IP in the pods' logs"; exit 1; }
kc delete validatingwebhookconfiguration real-node-demo-hello

step "in-cluster API access from ${PODS[1]} (kubernetes Service, SA token, CA)"
kc -n "$NS" exec "${PODS[1]}" -- kube-probe

step "kubelet API at $NODE_IP:10250: webhook authn/authz, no anonymous access"
# From the host (the API server's side of the veth), verifying the kubelet's serving cert.
kubelet_code() {
  curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CDIR/pki/ca.crt" "$@" \
    "https://$NODE_IP:10250/pods"
}
code=$(kubelet_code)
echo "  anonymous: HTTP $code"
[[ $code == 401 ]] || { echo "FAIL: anonymous kubelet access was not refused"; exit 1; }
code=$(kubelet_code --cert "$CDIR/pki/apiserver-kubelet-client.crt" --key "$CDIR/pki/apiserver-kubelet-client.key")
echo "  the API server's kubelet client cert (system:kubelet-api-admin): HTTP $code"
[[ $code == 200 ]] || { echo "FAIL: the API server's client cert was refused"; exit 1; }
code=$(kubelet_code -H "Authorization: Bearer $(kc -n "$NS" create token default)")
echo "  SA $NS/default token without nodes/proxy: HTTP $code"
[[ $code == 403 ]] || { echo "FAIL: an SA without nodes/proxy was not refused"; exit 1; }

step "ALL CHECKS PASSED"
if [[ $KEEP != --keep ]]; then
  kc delete namespace "$NS" --wait=true --timeout=120s
fi
