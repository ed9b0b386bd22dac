import type { ClusterOutcome } from './types.ts';

/** Folds the outcomes of several steps of one phase into one outcome per cluster. */
export function mergeOutcomes(steps: ClusterOutcome[][]): ClusterOutcome[] {
  const byCluster = new Map<string, ClusterOutcome>();
  for (const outcomes of steps)
    for (const o of outcomes) {
      const seen = byCluster.get(o.cluster);
      if (!seen) {
        byCluster.set(o.cluster, { ...o, records: [...o.records], notes: [...o.notes] });
        continue;
      }
      seen.ok &&= o.ok;
      seen.durationMs += o.durationMs;
      seen.records.push(...o.records);
      seen.notes.push(...o.notes);
      if (o.error) seen.error = seen.error ? `${seen.error}; ${o.error}` : o.error;
    }
  return [...byCluster.values()];
}
