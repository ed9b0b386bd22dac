// Applies a set of objects in dependency order: CRDs (then waits until they are
// served), namespaces, RBAC and config, then everything else. Objects within
// one step go concurrently, a few at a time.
import type { K8sObject } from '../k8s-object.ts';
import type { ApplyRecord, ClusterClient } from './client.ts';

const ORDER = [
  'CustomResourceDefinition',
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'Role',
  'ClusterRoleBinding',
  'RoleBinding',
  'ConfigMap',
  'Secret',
  'CSIDriver',
  'Service',
];
const WORKLOAD_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'Job']);
const WEBHOOK_KINDS = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

function step(o: K8sObject): number {
  const i = ORDER.indexOf(o.kind);
  if (i >= 0) return i;
  if (WORKLOAD_KINDS.has(o.kind)) return ORDER.length;
  // Webhooks after the workloads that serve them; custom resources last.
  if (WEBHOOK_KINDS.has(o.kind)) return ORDER.length + 1;
  return o.apiVersion.includes('.') && !o.apiVersion.startsWith('apps/')
    ? ORDER.length + 3
    : ORDER.length + 2;
}

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

function established(o: K8sObject): boolean {
  const conditions =
    (o.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === 'Established' && c.status === 'True');
}

export async function applyInOrder(
  client: ClusterClient,
  objects: K8sObject[],
): Promise<ApplyRecord[]> {
  const groups = new Map<number, K8sObject[]>();
  for (const o of objects) groups.set(step(o), [...(groups.get(step(o)) ?? []), o]);
  const records: ApplyRecord[] = [];
  for (const key of [...groups.keys()].sort((a, b) => a - b)) {
    const group = groups.get(key) ?? [];
    records.push(...(await mapLimit(group, 6, (o) => client.applyOne(o))));
    if (group[0]?.kind === 'CustomResourceDefinition')
      await mapLimit(group, 6, (crd) =>
        client.waitFor(crd, established, () => 'the CRD is not Established yet'),
      );
  }
  return records;
}
