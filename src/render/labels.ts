// Ownership labels: cleanup finds everything the action created by
// MANAGED_BY_LABEL, and PHASE_LABEL says which phase made it.
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, PHASE_LABEL } from '../config.ts';
import type { K8sObject } from '../k8s-object.ts';

/** A copy of `o` carrying the managed-by and phase labels (other labels kept). */
export function labelObject(o: K8sObject, phase: string): K8sObject {
  return {
    ...o,
    metadata: {
      ...o.metadata,
      labels: { ...o.metadata.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [PHASE_LABEL]: phase },
    },
  };
}

/** Kinds this project renders that live outside any namespace. */
const CLUSTER_SCOPED_KINDS = new Set([
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
]);

export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED_KINDS.has(kind);
}
