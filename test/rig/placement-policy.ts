// Pod placement in real mode (MESH_RIG_REAL, see layout.ts): the pods of the real namespaces
// (e.g. spire) must run on the cluster's real node (test/rig/node), every other pod on the
// kwok nodes, which fake it (no image of cert-manager, say, exists here). The action's pod
// specs stay as applied: the kwok nodes carry the NoSchedule taint FAKE_NODE_TAINT (so the
// scheduler and the DaemonSet controller, which reads the template, keep real-namespace pods
// off them), and this MutatingAdmissionPolicy (a real API server feature, GA in 1.36, no rig
// code in the path) gives every other pod a toleration of that taint and the kwok nodes'
// `type: kwok` label as nodeSelector. Pods that name the real node themselves (the rig's own
// CoreDNS) are left alone.
import { apiCall, type ApiCredentials } from './kube-http.ts';
import { FAKE_NODE_TAINT } from './layout.ts';

export const PLACEMENT_POLICY = 'mesh-rig-fake-node-placement';
const FIELD_MANAGER = 'mesh-rig';
/** The label node-up.sh gives a real node (and its pods' nodeSelector, when they name it). */
const REAL_NODE_LABEL = 'mesh-rig.test/real-node';

function policy(realNamespaces: string[]): object {
  const toleration = `Object.spec.tolerations{key: "${FAKE_NODE_TAINT}", operator: "Exists", effect: "NoSchedule"}`;
  // JSON patch, not an apply configuration: tolerations is an atomic list, which an apply
  // configuration would replace instead of appending to.
  const patch = `(has(object.spec.tolerations)
  ? [JSONPatch{op: "add", path: "/spec/tolerations/-", value: ${toleration}}]
  : [JSONPatch{op: "add", path: "/spec/tolerations", value: [${toleration}]}]) +
(has(object.spec.nodeSelector)
  ? [JSONPatch{op: "add", path: "/spec/nodeSelector/type", value: "kwok"}]
  : [JSONPatch{op: "add", path: "/spec/nodeSelector", value: {"type": "kwok"}}])`;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingAdmissionPolicy',
    metadata: { name: PLACEMENT_POLICY },
    spec: {
      failurePolicy: 'Fail',
      reinvocationPolicy: 'Never',
      matchConstraints: {
        resourceRules: [
          { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] },
        ],
        namespaceSelector: {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: realNamespaces },
          ],
        },
      },
      matchConditions: [
        {
          name: 'not-placed-on-a-real-node',
          expression: `!has(object.spec.nodeSelector) || !('${REAL_NODE_LABEL}' in object.spec.nodeSelector)`,
        },
      ],
      mutations: [{ patchType: 'JSONPatch', jsonPatch: { expression: patch } }],
    },
  };
}

const binding = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingAdmissionPolicyBinding',
  metadata: { name: PLACEMENT_POLICY },
  spec: { policyName: PLACEMENT_POLICY },
};

/** Applies the policy and its binding (server-side apply, idempotent). */
export async function ensurePlacementPolicy(
  creds: ApiCredentials,
  realNamespaces: string[],
): Promise<void> {
  for (const [plural, object] of [
    ['mutatingadmissionpolicies', policy(realNamespaces)],
    ['mutatingadmissionpolicybindings', binding],
  ] as const)
    await apiCall(
      creds,
      'PATCH',
      `/apis/admissionregistration.k8s.io/v1/${plural}/${PLACEMENT_POLICY}?fieldManager=${FIELD_MANAGER}&force=true`,
      object,
      'application/apply-patch+yaml',
    );
}
