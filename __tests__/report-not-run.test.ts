// Issue 7, item 15: a proof that was not made is never shown as made. Checks
// deselected through `verify-checks` are "not run": never a pass, never a
// failure; phases skipped after a failure read "skipped", not "failed in 0 ms".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/config/inputs.ts';
import { VERIFY_CHECKS } from '../src/config/config.ts';
import { buildResult, renderSummary } from '../src/report/summary.ts';
import { type RunContext } from '../src/phases/types.ts';
import { skippedPhase } from '../src/model/results.ts';
import type { PhaseResult } from '../src/model/results.ts';
import { runVerify } from '../src/phases/verify.ts';
import { allPassed, checkStatus, notRun, passed, type Check } from '../src/model/check.ts';
import { toPhaseResult } from '../src/run-cluster-phases.ts';
import { failureAnnotations, failureMessage } from '../src/report/failures.ts';

const config = parseInputs((name) => (name === 'phase' ? 'plan' : ''));
const MESH = 'cluster-1+cluster-2';

/** The verify phase as the runner builds it from runVerify's answer. */
const verifyPhase = (checks: Check[]): PhaseResult =>
  toPhaseResult('verify', { outcomes: [], checks, evidence: [] }, 3000);

const narrowed = (): Check[] => [
  passed('readiness', 'cluster-1', 'all 7 workloads ready'),
  passed('readiness', 'cluster-2', 'all 9 workloads ready'),
  passed('federation', MESH, 'each server holds the other bundle'),
  notRun('chain', MESH, 'not selected in verify-checks'),
  notRun('east-west', MESH, 'not selected in verify-checks'),
  notRun('north-south', MESH, 'not selected in verify-checks'),
];

test('a not-run check is never a pass and never a failure', () => {
  const check = notRun('chain', MESH, 'not selected in verify-checks');
  assert.equal(checkStatus(check), 'not-run');
  assert.equal(check.ok, false, 'ok means proven');
  assert.equal(allPassed([passed('a', 'c', 'r'), check]), false);
  assert.equal(checkStatus(passed('a', 'c', 'r')), 'pass');
});

test('deselected checks do not fail the verify phase', () => {
  const phase = verifyPhase(narrowed());
  assert.equal(phase.ok, true, 'nothing failed');
  assert.deepEqual(phase.notRun, ['chain', 'east-west', 'north-south']);
});

test('the summary lists every check not run and the headline names the missing proofs', () => {
  const text = renderSummary(config, [verifyPhase(narrowed())]);
  assert.match(
    text,
    /^## mesh-federation ⚠️ partly proven — not run: chain, east-west, north-south$/m,
  );
  assert.doesNotMatch(text, /### verify ✅/, 'the phase is not a plain pass either');
  assert.match(text, /^### verify ⚠️ partly proven · 3.0s$/m);
  for (const name of ['chain', 'east-west', 'north-south'])
    assert.match(
      text,
      new RegExp(
        `^\\| ${name} \\| ${MESH.replace('+', '\\+')} \\| ⏭️ not run \\| not selected`,
        'm',
      ),
    );
  assert.match(text, /^\| federation \| cluster-1\+cluster-2 \| ✅ pass \|/m);
});

test('result output: ok means nothing failed, not-run checks are listed and carry their state', () => {
  const result = buildResult(config, [verifyPhase(narrowed())]);
  assert.equal(result.ok, true);
  assert.deepEqual(result.notRun, ['verify/chain', 'verify/east-west', 'verify/north-south']);
  const phase = result.phases[0];
  assert.equal(phase?.status, 'partial');
  assert.deepEqual(
    phase?.checks.map((c) => [c.name, c.status]),
    [
      ['readiness', 'pass'],
      ['readiness', 'pass'],
      ['federation', 'pass'],
      ['chain', 'not-run'],
      ['east-west', 'not-run'],
      ['north-south', 'not-run'],
    ],
  );
});

test('a skipped phase reads skipped in the summary and in the result output', () => {
  const failedSpire: PhaseResult = {
    phase: 'spire',
    ok: false,
    durationMs: 900,
    clusters: [],
    checks: [],
    evidence: [],
    error: 'boom',
  };
  const results = [failedSpire, skippedPhase('istio'), skippedPhase('verify')];
  const text = renderSummary(config, results);
  assert.match(text, /^### istio ⏭️ skipped$/m);
  assert.doesNotMatch(text, /### (istio|verify) ❌|fail · 0ms/);
  const result = buildResult(config, results);
  assert.deepEqual(
    result.phases.map((p) => [p.phase, p.status, p.ok, p.skipped ?? false]),
    [
      ['spire', 'fail', false, false],
      ['istio', 'skipped', false, true],
      ['verify', 'skipped', false, true],
    ],
  );
  assert.equal(result.ok, false);
});

test('the failure message names what failed, not the checks left out or the phases skipped', () => {
  const failing = verifyPhase([
    ...narrowed(),
    { name: 'identities', cluster: 'cluster-2', ok: false, reason: 'no entry for sleep' },
  ]);
  assert.equal(failing.ok, false);
  assert.equal(
    failureMessage([failing, skippedPhase('rotate')]),
    'mesh-federation failed: verify/identities@cluster-2: no entry for sleep',
  );
  assert.equal(failureMessage([verifyPhase(narrowed())]), undefined);
  assert.deepEqual(
    failureAnnotations([failing, skippedPhase('rotate')]).map((a) => [a.title, a.message]),
    [['verify · identities · cluster-2', 'no entry for sleep']],
  );
});

test('a phase that failed without checks is annotated per failed cluster, or by its own error', () => {
  const outcome = (cluster: string, error?: string) => ({
    cluster,
    ok: !error,
    durationMs: 1,
    records: [],
    notes: [],
    ...(error ? { error } : {}),
  });
  const spire = {
    phase: 'spire' as const,
    ok: false,
    durationMs: 1,
    clusters: [outcome('cluster-1'), outcome('cluster-2', 'bundle set failed')],
    checks: [],
    evidence: [],
  };
  assert.deepEqual(
    failureAnnotations([spire]).map((a) => [a.title, a.message]),
    [['spire · cluster-2', 'bundle set failed']],
  );
  assert.deepEqual(
    failureAnnotations([{ ...spire, clusters: [], error: 'istioctl missing' }]).map((a) => a.title),
    ['spire'],
  );
  assert.equal(
    failureMessage([spire]),
    'mesh-federation failed: spire: cluster-2: bundle set failed',
  );
});

test('runVerify reports every check it was not asked to run as not run', async () => {
  const ctx = {
    config: { ...config, verifyChecks: [] },
    clients: config.clusters.map((cluster) => ({ cluster })),
  } as unknown as RunContext;
  const { checks } = await runVerify(ctx);
  assert.ok(checks.length > 0);
  assert.ok(checks.every((c) => checkStatus(c) === 'not-run'));
  assert.deepEqual([...new Set(checks.map((c) => c.name))], [...VERIFY_CHECKS]);
  // Per-cluster checks are left out on every cluster, mesh-wide ones once.
  assert.deepEqual(
    checks.filter((c) => c.name === 'readiness').map((c) => c.cluster),
    ['cluster-1', 'cluster-2'],
  );
  assert.deepEqual(
    checks.filter((c) => c.name === 'chain').map((c) => c.cluster),
    [MESH],
  );
  assert.equal(verifyPhase(checks).ok, true, 'leaving checks out fails nothing');
});
