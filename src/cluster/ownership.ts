// The action changes only what it created. An object that already exists
// without our managed-by label belongs to someone else: applying over it with
// force would relabel it as ours, and `cleanup` would then delete it (a
// cert-manager CRD taken over that way takes every Certificate in the cluster
// with it).
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, PHASE_LABEL } from '../config/config.ts';
import { objectRef, type K8sObject } from '../model/k8s-object.ts';

export const isOurs = (o: K8sObject): boolean =>
  o.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;

export type ApplyPlan = { body: K8sObject; foreign: boolean } | { refuse: string };

/**
 * What to send for `rendered` given the live object. A foreign Namespace is
 * shared, never taken: our labels other than ownership are added (istiod
 * needs the network label), so cleanup leaves it. Anything else foreign is
 * refused, naming it.
 */
export function planApply(live: K8sObject | null, rendered: K8sObject): ApplyPlan {
  if (!live || !isOurs(rendered) || isOurs(live)) return { body: rendered, foreign: false };
  if (rendered.kind === 'Namespace') {
    const labels = { ...rendered.metadata.labels };
    delete labels[MANAGED_BY_LABEL];
    delete labels[PHASE_LABEL];
    return { body: { ...rendered, metadata: { ...rendered.metadata, labels } }, foreign: true };
  }
  return {
    refuse: `${objectRef(rendered)} already exists and was not created by mesh-federation (it has no ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE} label), so it is left alone. Remove it, or install into clusters where the action owns this component.`,
  };
}
