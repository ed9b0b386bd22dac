// Applies a set of objects in dependency order: CRDs (then waits until they are
// served), namespaces, RBAC and config, then everything else. Objects within
// one step go concurrently, a few at a time.
import type { K8sObject } from '../model/k8s-object.ts';
import type { ClusterApi } from './api.ts';
import type { ApplyRecord } from '../model/results.ts';
import { conditionTrue } from '../model/conditions.ts';
import { applyRank } from '../model/kinds.ts';

export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const established = (o: K8sObject): boolean => conditionTrue(o, 'Established');

export async function applyInOrder(
  client: ClusterApi,
  objects: K8sObject[],
): Promise<ApplyRecord[]> {
  const groups = new Map<number, K8sObject[]>();
  for (const o of objects) groups.set(applyRank(o), [...(groups.get(applyRank(o)) ?? []), o]);
  const records: ApplyRecord[] = [];
  for (const key of [...groups.keys()].sort((a, b) => a - b)) {
    const group = groups.get(key) ?? [];
    const crds = group[0]?.kind === 'CustomResourceDefinition';
    // CRDs all at once: the API server's work on each (its schema) dwarfs the request, and the
    // next step waits for all of them anyway.
    records.push(...(await mapLimit(group, crds ? group.length : 6, (o) => client.applyOne(o))));
    if (crds)
      await mapLimit(group, 6, (crd) =>
        client.waitFor(crd, established, () => 'the CRD is not Established yet'),
      );
  }
  return records;
}
