// The one table of kinds: the order objects are applied in (what a later
// object needs comes first), read backwards for deletion, and which kinds live
// outside any namespace.

/**
 * Kinds applied before everything else, a step at a time; the kinds of one step go together
 * (each step is a round trip per object, so no more steps than the dependencies need).
 * Namespaced objects need their Namespace; a binding is sent after the role it names (RBAC
 * escalation checks read it) and a token Secret after its ServiceAccount (the token
 * controller deletes one whose ServiceAccount does not exist).
 */
const FOUNDATION = [
  ['CustomResourceDefinition'],
  ['Namespace'],
  ['ServiceAccount', 'ClusterRole', 'Role', 'ConfigMap', 'CSIDriver', 'Service'],
  ['ClusterRoleBinding', 'RoleBinding', 'Secret'],
];
const WORKLOADS = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'Job']);
const WEBHOOKS = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

/**
 * Where an object goes in an apply: the foundation steps in their order, then
 * workloads, then the webhooks they serve, then other built-in kinds, custom
 * resources last (their CRDs and controllers must be there first).
 */
export function applyRank(o: { apiVersion: string; kind: string }): number {
  const i = FOUNDATION.findIndex((step) => step.includes(o.kind));
  if (i >= 0) return i;
  if (WORKLOADS.has(o.kind)) return FOUNDATION.length;
  if (WEBHOOKS.has(o.kind)) return FOUNDATION.length + 1;
  const builtIn =
    !o.apiVersion.includes('/') ||
    o.apiVersion.startsWith('apps/') ||
    /\.k8s\.io\//.test(o.apiVersion) ||
    /^(batch|policy|autoscaling)\//.test(o.apiVersion);
  return FOUNDATION.length + (builtIn ? 2 : 3);
}

/** Deletion runs the apply order backwards: custom resources first, namespaces and CRDs last. */
export const deleteRank = (o: { apiVersion: string; kind: string }): number => -applyRank(o);

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'ClusterIssuer',
  'CSIDriver',
  'CustomResourceDefinition',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'StorageClass',
  'PersistentVolume',
  'PriorityClass',
  'ClusterSPIFFEID',
  'ClusterFederatedTrustDomain',
  'ClusterStaticEntry',
]);

/** Kinds the action renders that live outside any namespace. */
export const isClusterScoped = (kind: string): boolean => CLUSTER_SCOPED.has(kind);
