// Waits for workloads to be rolled out and Ready, the way `kubectl rollout
// status` judges them, by watch.
import type { K8sObject } from '../k8s-object.ts';
import type { ClusterClient } from './client.ts';

interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  desiredNumberScheduled?: number;
  numberReady?: number;
  updatedNumberScheduled?: number;
}

export const ROLLOUT_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);

/** Returns null when rolled out, else what is missing. */
export function rolloutGap(o: K8sObject): string | null {
  const status = (o.status ?? {}) as WorkloadStatus;
  const generation = (o.metadata as { generation?: number }).generation ?? 0;
  if ((status.observedGeneration ?? 0) < generation)
    return 'the controller has not seen the latest spec yet';
  if (o.kind === 'DaemonSet') {
    const desired = status.desiredNumberScheduled ?? 0;
    const ready = status.numberReady ?? 0;
    const updated = status.updatedNumberScheduled ?? 0;
    return ready >= desired && updated >= desired
      ? null
      : `${ready}/${desired} pods ready, ${updated} updated`;
  }
  const want = (o.spec as { replicas?: number } | undefined)?.replicas ?? 1;
  const ready = status.readyReplicas ?? 0;
  const updated = status.updatedReplicas ?? 0;
  return ready >= want && updated >= want
    ? null
    : `${ready}/${want} replicas ready, ${updated} updated`;
}

export async function waitForRollouts(client: ClusterClient, objects: K8sObject[]): Promise<void> {
  const workloads = objects.filter((o) => ROLLOUT_KINDS.has(o.kind));
  await Promise.all(
    workloads.map((w) =>
      client.waitFor(
        w,
        (o) => rolloutGap(o) === null,
        (o) => (o ? (rolloutGap(o) ?? 'ready') : 'it does not exist'),
      ),
    ),
  );
}
