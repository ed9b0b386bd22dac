// Where a run's time went: the slowest cluster's readiness waits against the action's own work.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { WaitClock } from '../src/cluster/wait-clock.ts';
import { runTiming } from '../src/analyze/timing.ts';
import { parseInputs } from '../src/config/inputs.ts';
import { buildResult, renderSummary } from '../src/report/summary.ts';
import type { ClusterOutcome, PhaseResult } from '../src/model/results.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('waits that overlap count once, and the clock counts a wait still under way', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  try {
    const clock = new WaitClock();
    // Two rollouts waited for at once (1 s and 3 s), then a webhook poll of 2 s after some work.
    const both = Promise.all([clock.during(() => sleep(1000)), clock.during(() => sleep(3000))]);
    mock.timers.tick(1000);
    await Promise.resolve();
    assert.equal(clock.ms(), 1000);
    mock.timers.tick(2000);
    await both;
    assert.equal(clock.ms(), 3000);
    mock.timers.tick(5000); // the action's own work: not waiting
    const poll = clock.during(() => sleep(2000));
    mock.timers.tick(2000);
    await poll;
    assert.equal(clock.ms(), 5000);
    // A wait that fails still ends its interval.
    const failing = clock.during(async () => {
      await sleep(500);
      throw new Error('timed out');
    });
    mock.timers.tick(500);
    await assert.rejects(failing, /timed out/);
    assert.equal(clock.ms(), 5500);
  } finally {
    mock.timers.reset();
  }
});

const outcome = (cluster: string, waitedMs: number): ClusterOutcome => ({
  cluster,
  ok: true,
  durationMs: 0,
  records: [],
  notes: [],
  waitedMs,
});
const phase = (name: PhaseResult['phase'], durationMs: number, ...clusters: ClusterOutcome[]) =>
  ({ phase: name, ok: true, durationMs, clusters, checks: [], evidence: [] }) as PhaseResult;

test('the readiness critical path is the slowest cluster’s waits summed over the phases, the rest is the action’s own', () => {
  const results = [
    phase('cert-manager', 10_000, outcome('cluster-1', 8000), outcome('cluster-2', 9000)),
    phase('spire', 20_000, outcome('cluster-1', 18_000), outcome('cluster-2', 12_000)),
    phase('verify', 5000, outcome('cluster-1', 0), outcome('cluster-2', 1000)),
  ];
  assert.deepEqual(runTiming(results), {
    phasesMs: 35_000,
    slowestCluster: 'cluster-1',
    readinessMs: 26_000,
    ownMs: 9000,
  });
  assert.equal(runTiming([phase('plan', 300)]), undefined, 'plan waits for no cluster');

  const config = parseInputs((name) => (name === 'phase' ? 'plan' : ''));
  const result = buildResult(config, results);
  assert.equal(result.timing?.readinessMs, 26_000);
  assert.equal(result.phases[1]?.clusters[0]?.waitedMs, 18_000);
  const summary = renderSummary(config, results);
  assert.match(
    summary,
    /Time: 35\.0s, of which 26\.0s waiting for `cluster-1` to become ready .* and 9\.0s \(26%\) the action's own work/,
  );
  assert.match(summary, /\| 0ms \(18\.0s waiting for readiness\) \|/);
});
