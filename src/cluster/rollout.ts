// Waits, by watch, for workloads to be rolled out and Ready, judged by the
// same rules the verify phase reports with.
import type { K8sObject } from '../model/k8s-object.ts';
import {
  firstPodProblem,
  rolloutState,
  type PodObject,
  type WorkloadKind,
  type WorkloadObject,
} from '../analyze/readiness.ts';
import type { ClusterApi } from './api.ts';

export const ROLLOUT_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);

/** Returns null when rolled out, else what is missing. */
export function rolloutGap(o: K8sObject): string | null {
  const state = rolloutState(o.kind as WorkloadKind, o as unknown as WorkloadObject);
  return state.done ? null : state.reason;
}

export async function waitForRollouts(client: ClusterApi, objects: K8sObject[]): Promise<void> {
  const workloads = objects.filter((o) => ROLLOUT_KINDS.has(o.kind));
  await Promise.all(
    workloads.map((w) =>
      client.waitFor(
        w,
        (o) => rolloutGap({ ...o, kind: w.kind }) === null,
        async (o) => {
          if (!o) return 'it does not exist';
          const gap = rolloutGap({ ...o, kind: w.kind }) ?? 'ready';
          // "0/1 replicas ready" alone hides an image that cannot be pulled or a crashing container.
          const pods = await client
            .list('v1', 'Pod', { namespace: o.metadata.namespace ?? '' })
            .catch(() => []);
          const why = firstPodProblem(
            o as unknown as WorkloadObject,
            pods as unknown as PodObject[],
          );
          return why ? `${gap}; ${why}` : gap;
        },
      ),
    ),
  );
}
