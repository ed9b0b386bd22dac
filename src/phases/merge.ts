import type { ApplyRecord } from '../model/results.ts';
import type { ClusterOutcome } from '../model/results.ts';

/**
 * One record per object: a step may apply an object a later step applies again
 * (unchanged by then); what the phase did to it is the first real change.
 */
function dedupeRecords(records: ApplyRecord[]): ApplyRecord[] {
  const byRef = new Map<string, ApplyRecord>();
  for (const r of records) {
    const seen = byRef.get(r.ref);
    if (!seen || seen.action === 'unchanged')
      byRef.set(r.ref, seen && r.action === 'unchanged' ? seen : r);
  }
  return [...byRef.values()];
}

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
  return [...byCluster.values()].map((o) => ({ ...o, records: dedupeRecords(o.records) }));
}
