// What a real kubelet does to a pod that still names `image: auto` (the
// placeholder only Istio's sidecar injector fills in): it never starts. kwok
// would mark such a pod Running, hiding a gateway created before the injector
// answered. So every rig cluster refuses those pods at admission, with a
// ValidatingAdmissionPolicy (a real API server feature, no rig code in the
// path): the ReplicaSet's FailedCreate event names the cause, the rollout
// never completes, and the order the action applies things in is tested.
import { apiCall, type ApiCredentials } from './kube-http.ts';

export const INJECTION_POLICY = 'mesh-rig-refuse-uninjected-pods';
const FIELD_MANAGER = 'mesh-rig-controller';

const policy = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingAdmissionPolicy',
  metadata: { name: INJECTION_POLICY },
  spec: {
    failurePolicy: 'Fail',
    matchConstraints: {
      resourceRules: [
        { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] },
      ],
    },
    validations: [
      {
        expression:
          "object.spec.containers.all(c, c.image != 'auto') && (!has(object.spec.initContainers) || object.spec.initContainers.all(c, c.image != 'auto'))",
        message:
          'mesh rig: this pod names image "auto", which only the Istio sidecar injector replaces; on a real node it would never start (was it created before the injector answered?)',
        reason: 'Invalid',
      },
    ],
  },
};

const binding = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingAdmissionPolicyBinding',
  metadata: { name: INJECTION_POLICY },
  spec: { policyName: INJECTION_POLICY, validationActions: ['Deny'] },
};

/** Applies the policy and its binding (server-side apply, idempotent). */
export async function ensureInjectionPolicy(creds: ApiCredentials): Promise<void> {
  for (const [plural, object] of [
    ['validatingadmissionpolicies', policy],
    ['validatingadmissionpolicybindings', binding],
  ] as const)
    await apiCall(
      creds,
      'PATCH',
      `/apis/admissionregistration.k8s.io/v1/${plural}/${object.metadata.name}?fieldManager=${FIELD_MANAGER}&force=true`,
      object,
      'application/apply-patch+yaml',
    );
}
