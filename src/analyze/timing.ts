// Where a run's time went: waiting for a cluster to become ready (its readiness
// critical path, which no installer can shorten) or the action's own work
// (rendering, requests and their answers, the proof). Phases run one after the
// other and every cluster within a phase at once, so the slowest cluster's
// waits, phase by phase, are the part of the wall time the clusters set.
import type { PhaseResult } from '../model/results.ts';

export interface RunTiming {
  /** Wall time of the phases, end to end. */
  phasesMs: number;
  /** The cluster that kept the run waiting longest, and for how long (its readiness critical path). */
  slowestCluster: string;
  readinessMs: number;
  /** The rest: the action's own work and the API servers' answers. */
  ownMs: number;
}

export function runTiming(results: PhaseResult[]): RunTiming | undefined {
  const waited = new Map<string, number>();
  for (const outcome of results.flatMap((r) => r.clusters))
    waited.set(outcome.cluster, (waited.get(outcome.cluster) ?? 0) + (outcome.waitedMs ?? 0));
  const slowest = [...waited].sort((a, b) => b[1] - a[1])[0];
  if (!slowest) return undefined;
  const phasesMs = results.reduce((sum, r) => sum + r.durationMs, 0);
  const [slowestCluster, readinessMs] = slowest;
  return { phasesMs, slowestCluster, readinessMs, ownMs: Math.max(0, phasesMs - readinessMs) };
}
