// Ownership labels: cleanup finds everything the action created by
// MANAGED_BY_LABEL, and PHASE_LABEL says which phase made it.
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, PHASE_LABEL } from '../config/config.ts';
import type { K8sObject } from '../model/k8s-object.ts';

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
