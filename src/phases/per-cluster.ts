// Runs one step on every cluster at once. Each cluster's log lines are held
// back and printed as one collapsible group when it finishes, so concurrent
// clusters never interleave in the job log.
import * as core from '@actions/core';
import type { ClusterApi } from '../cluster/api.ts';
import type { ApplyRecord } from '../model/results.ts';
import { describeError } from '../cluster/errors.ts';
import type { ClusterLog } from './types.ts';
import type { ClusterOutcome } from '../model/results.ts';

export interface StepOutput {
  /** Instead of what was pushed to `applied`. */
  records?: ApplyRecord[];
  notes?: string[];
}

/**
 * `applied` collects what a step wrote as it writes it, so a step that fails later (a rollout
 * that never ends) still reports what it created.
 */
export async function onEachCluster(
  title: string,
  clients: ClusterApi[],
  step: (client: ClusterApi, log: ClusterLog, applied: ApplyRecord[]) => Promise<StepOutput | void>,
): Promise<ClusterOutcome[]> {
  return Promise.all(
    clients.map(async (client) => {
      const lines: string[] = [];
      const log: ClusterLog = (line) => lines.push(line);
      const started = Date.now();
      const outcome: ClusterOutcome = {
        cluster: client.cluster.context,
        ok: true,
        durationMs: 0,
        records: [],
        notes: [],
      };
      const applied: ApplyRecord[] = [];
      try {
        const out = (await step(client, log, applied)) ?? {};
        outcome.records = out.records ?? applied;
        outcome.notes = out.notes ?? [];
        const shared = outcome.records.filter((r) => r.foreign).map((r) => r.ref);
        if (shared.length > 0)
          outcome.notes.push(
            `found and left as theirs (not created by mesh-federation): ${shared.join(', ')}`,
          );
      } catch (error) {
        outcome.records = applied;
        outcome.ok = false;
        outcome.error = describeError(error);
        lines.push(`failed: ${outcome.error}`);
      }
      outcome.durationMs = Date.now() - started;
      const counts = countActions(outcome.records);
      core.startGroup(
        `${title} · ${client.cluster.context} · ${outcome.ok ? 'ok' : 'FAILED'} (${counts})`,
      );
      for (const line of lines) core.info(line);
      for (const r of outcome.records)
        if (r.action !== 'unchanged') core.info(`${r.action.padEnd(9)} ${r.ref}`);
      core.endGroup();
      return outcome;
    }),
  );
}

export function countActions(records: ApplyRecord[]): string {
  const n = (a: string): number => records.filter((r) => r.action === a).length;
  const deleted = n('deleted');
  return `${n('created')} created, ${n('changed')} changed, ${n('unchanged')} unchanged${deleted ? `, ${deleted} deleted` : ''}`;
}

/** A dependent step must not start on a half-done phase. */
export const anyFailed = (outcomes: ClusterOutcome[]): boolean => outcomes.some((o) => !o.ok);
