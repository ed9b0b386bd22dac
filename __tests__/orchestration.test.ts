// The run's orchestration on in-memory clusters: what a failure on one cluster
// does to the others and to the phases after it, and that a second run over
// a converged mesh changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/config/inputs.ts';
import { ClusterError } from '../src/cluster/errors.ts';
import { runPhases } from '../src/run-cluster-phases.ts';
import type { RunContext } from '../src/phases/types.ts';
import type { Istioctl } from '../src/cluster/istioctl.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';
import { runTiming } from '../src/analyze/timing.ts';
import type { PhaseResult } from '../src/model/results.ts';

function mesh(timeoutMs = 5000): { fakes: FakeCluster[]; ctx: RunContext } {
  const config = parseInputs((name) => ({ phase: 'plan', timeout: '5s' })[name] ?? '');
  const fakes = config.clusters.map((c) => new FakeCluster(c.context, timeoutMs, c));
  const ctx: RunContext = {
    config,
    clients: fakes,
    istioctl: {} as Istioctl,
    mask: () => {},
    writeManifest: (cluster, phase) => `${cluster}-${phase}.yaml`,
  };
  return { fakes, ctx };
}

const deployment = (name: string, namespace: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace },
});

test('a cluster that fails half-way fails its phase alone; the other cluster finishes, later phases are skipped', async () => {
  const { fakes, ctx } = mesh();
  const [one, two] = fakes as [FakeCluster, FakeCluster];
  two.failWrites = new ClusterError('cluster-2', 'HTTP 500 from the API server, on purpose');
  const [examples, verify] = await runPhases(ctx, ['examples', 'verify']);

  assert.equal(examples?.ok, false);
  const [first, second] = examples?.clusters ?? [];
  assert.equal(first?.ok, true, first?.error);
  assert.ok((first?.records ?? []).some((r) => r.action === 'created'));
  assert.equal(second?.ok, false);
  assert.match(second?.error ?? '', /cluster-2.*on purpose/);
  assert.ok(await one.read(deployment('helloworld-v1', 'helloworld')), 'cluster-1 finished');
  assert.equal(await two.read(deployment('helloworld-v2', 'helloworld')), null);

  assert.equal(verify?.skipped, true);
  assert.equal(verify?.ok, false);
  assert.ok(!one.events.some((e) => e.startsWith('exec')), 'verify ran nothing');
});

test('a phase that throws is a failed phase with its reason, and the phases after it are skipped', async () => {
  const { ctx } = mesh(300);
  // rotate needs cert-manager's Certificate controller, which the fake does not run.
  const results = await runPhases(ctx, ['rotate', 'cleanup']);
  assert.equal(results[0]?.ok, false);
  assert.match(
    [results[0]?.error, ...(results[0]?.clusters ?? []).map((c) => c.error)].join(' '),
    /timed out|not found/,
  );
  assert.equal(results[1]?.skipped, true);
});

test('a second run over what the first applied changes nothing', async () => {
  const { ctx } = mesh();
  const [first] = await runPhases(ctx, ['examples']);
  assert.equal(first?.ok, true, first?.error ?? first?.clusters.map((c) => c.error).join());
  const [again] = await runPhases(ctx, ['examples']);
  assert.equal(again?.ok, true);
  const actions = new Set(again?.clusters.flatMap((c) => c.records.map((r) => r.action)));
  assert.deepEqual([...actions], ['unchanged']);
});

test('a phase that fails after writing still reports what it created (a rollout that never ends)', async () => {
  const { fakes, ctx } = mesh();
  const one = fakes[0] as FakeCluster;
  one.waitFor = async (header) => {
    throw new ClusterError(
      'cluster-1',
      `timed out waiting for ${header.metadata.name}, on purpose`,
    );
  };
  const [examples] = await runPhases(ctx, ['examples']);
  const [first, second] = examples?.clusters ?? [];
  assert.equal(first?.ok, false);
  assert.match(first?.error ?? '', /on purpose/);
  const created = (first?.records ?? []).filter((r) => r.action === 'created').map((r) => r.ref);
  assert.ok(created.includes('Deployment/helloworld/helloworld-v1'), created.join(', '));
  assert.equal(second?.ok, true);
});

test('each cluster’s waits for readiness are counted per phase, and the slowest cluster sets the readiness path', async () => {
  const { fakes, ctx } = mesh();
  const one = fakes[0] as FakeCluster;
  const waitFor = one.waitFor.bind(one);
  // cluster-1's rollouts take 200 ms longer, as a slower cluster's would.
  one.waitFor = (header, done, describe, timeoutMs) =>
    one.waiting(async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return waitFor(header, done, describe, timeoutMs);
    });
  const [examples] = await runPhases(ctx, ['examples']);
  assert.equal(examples?.ok, true);
  const [first, second] = examples?.clusters ?? [];
  assert.ok((first?.waitedMs ?? 0) >= 200, `cluster-1 waited ${first?.waitedMs} ms`);
  assert.ok((first?.waitedMs ?? 0) <= (first?.durationMs ?? 0));
  assert.ok((second?.waitedMs ?? 0) < (first?.waitedMs ?? 0));
  assert.equal(runTiming([examples as PhaseResult])?.slowestCluster, 'cluster-1');
  const [again] = await runPhases(ctx, ['examples']);
  assert.ok((again?.clusters[0]?.waitedMs ?? 0) >= 200, 'counted anew for each phase');
  assert.ok((again?.clusters[0]?.waitedMs ?? 0) < (first?.waitedMs ?? 0) + 200);
});
