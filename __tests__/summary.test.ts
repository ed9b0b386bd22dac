import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/config/inputs.ts';
import { buildResult, renderSummary } from '../src/report/summary.ts';
import { escapeCell, markdownTable } from '../src/report/markdown.ts';
import { skippedPhase } from '../src/model/results.ts';
import type { PhaseResult } from '../src/model/results.ts';

const config = parseInputs((name) => (name === 'phase' ? 'plan' : ''));

const results: PhaseResult[] = [
  {
    phase: 'spire',
    ok: true,
    durationMs: 65_000,
    clusters: [
      {
        cluster: 'cluster-1',
        ok: true,
        durationMs: 64_000,
        records: [
          { ref: 'Namespace/spire', action: 'unchanged' },
          { ref: 'StatefulSet/spire/spire-server', action: 'changed' },
          { ref: 'ConfigMap/spire/spire-server', action: 'created' },
        ],
        notes: ['bundle endpoint https://203.0.113.7:8443'],
        retries: 3,
        waitedMs: 50_000,
      },
      {
        cluster: 'cluster-2',
        ok: false,
        durationMs: 1000,
        records: [],
        notes: [],
        error: 'HTTP 403: forbidden | denied',
      },
    ],
    checks: [],
    evidence: [],
  },
  {
    phase: 'verify',
    ok: false,
    durationMs: 2000,
    clusters: [],
    checks: [
      {
        name: 'east-west traffic',
        cluster: 'cluster-1',
        ok: false,
        reason: 'only v1 (cluster-1) answered',
      },
      { name: 'federation', cluster: 'cluster-2', ok: true, reason: 'holds foo.com' },
    ],
    evidence: [
      {
        kind: 'federation',
        matrix: {
          trustDomains: ['foo.com', 'bar.com', 'baz.com'],
          cells: [
            ['own', 'same', 'missing'],
            ['same', 'own', 'same'],
            ['stale', 'same', 'own'],
          ],
          ok: false,
        },
      },
      {
        kind: 'chain',
        report: {
          cluster: 'cluster-1',
          workload: 'sleep/sleep-1',
          ok: true,
          checks: [],
          rows: [
            {
              role: 'leaf',
              source: 'chain',
              trustDomain: 'foo.com',
              subject: 'O=SPIRE',
              issuer: 'O=SPIRE intermediate',
              spiffeId: 'spiffe://foo.com/ns/sleep/sa/sleep',
              notBefore: '2026-01-01T00:00:00Z',
              notAfter: '2026-01-01T01:00:00Z',
              keyType: 'EC P-256',
              sha256: 'ab:cd',
            },
          ],
        },
      },
    ],
  },
];

test('summary: a section per phase, a table per cluster with counts and time, checks with verdicts', () => {
  const md = renderSummary(config, results);
  assert.match(md, /^## mesh-federation ❌/);
  assert.match(md, /### spire ✅ pass · 1m05s/);
  assert.match(
    md,
    /\| cluster-1 \| ✅ \| 1 \| 1 \| 1 \| 1m04s \(50\.0s waiting for readiness\) \| bundle endpoint https:\/\/203\.0\.113\.7:8443; 3 API calls retried \|/,
  );
  assert.match(
    md,
    /\| cluster-2 \| ❌ HTTP 403: forbidden \\\| denied \|/,
    'pipes in values cannot break the table',
  );
  assert.match(
    md,
    /\| east-west traffic \| cluster-1 \| ❌ fail \| only v1 \(cluster-1\) answered \|/,
  );
  assert.match(md, /#### Federation: which server holds whose bundle ❌ fail/);
  assert.match(md, /\| server ↓ holds bundle of → \| foo\.com \| bar\.com \| baz\.com \|/);
  assert.match(md, /\| foo\.com \| — own \| ✅ same roots \| ❌ missing \|/);
  assert.match(md, /\| baz\.com \| ❌ stale \| ✅ same roots \| — own \|/);
  assert.match(md, /#### Certificate chain of sleep\/sleep-1 \(cluster-1\) ✅ pass/);
  assert.match(
    md,
    /\| leaf \| foo\.com \| O=SPIRE \| O=SPIRE intermediate \| spiffe:\/\/foo\.com\/ns\/sleep\/sa\/sleep \|/,
  );
});

test('result output: every phase and check, per cluster, with counts, reason and timing', () => {
  const result = buildResult(config, results);
  assert.equal(result.ok, false);
  assert.deepEqual(result.phases[0]?.clusters[0], {
    cluster: 'cluster-1',
    ok: true,
    durationMs: 64_000,
    created: 1,
    changed: 1,
    unchanged: 1,
    deleted: 0,
    retries: 3,
    waitedMs: 50_000,
    notes: ['bundle endpoint https://203.0.113.7:8443'],
  });
  assert.equal(result.phases[1]?.checks[0]?.reason, 'only v1 (cluster-1) answered');
});

test('a huge summary is cut below the 1 MiB step limit and says where the rest is', () => {
  const many: PhaseResult = {
    ...(results[1] as PhaseResult),
    checks: Array.from({ length: 20_000 }, (_, i) => ({
      name: `check-${i}`,
      cluster: 'cluster-1',
      ok: true,
      reason: 'x'.repeat(60),
    })),
  };
  const md = renderSummary(config, [many]);
  assert.ok(Buffer.byteLength(md) < 1024 * 1024);
  assert.match(md, /summary truncated: the full data is in the `result` output/);
});

test('cells are escaped: no table breaks, no markup injection', () => {
  assert.equal(escapeCell('a|b\nc<script>'), 'a\\|b<br>c&lt;script>');
  assert.equal(markdownTable(['x'], [['1']]), '| x |\n| --- |\n| 1 |');
});

test('traffic section: answers per version and cluster, share, failures, latency', async () => {
  const { analyzeEastWest } = await import('../src/analyze/traffic.ts');
  const { trafficSection } = await import('../src/report/traffic-section.ts');
  const sample = (version: string, ms: number) => ({
    ok: true,
    status: 200,
    body: `Hello version: ${version}, instance: helloworld-${version}-abc`,
    ms,
  });
  const samples = [
    sample('v1', 10),
    sample('v2', 20),
    sample('v1', 30),
    { ok: false, status: 0, body: '', ms: 5000, error: 'curl exit 28 (timed out)' },
  ];
  const check = analyzeEastWest({
    cluster: 'cluster-1',
    clusters: ['cluster-1', 'cluster-2'],
    samples,
  });
  const section = trafficSection(check);
  assert.ok(section);
  assert.match(section.title, /east-west traffic from cluster-1 ❌ fail/);
  assert.match(section.markdown, /\| v1 \| cluster-1 \| 2 \| 50% \|/);
  assert.match(section.markdown, /\| v2 \| cluster-2 \| 1 \| 25% \|/);
  assert.match(section.markdown, /\| failed \| {2}\| 1 \| 25% \|/);
  assert.match(section.markdown, /4 requests · latency p50 \d+ ms · p95 \d+ ms/);
  assert.equal(trafficSection({ name: 'x', cluster: 'c', ok: true, reason: 'r' }), undefined);
});

// Issue 7, item 15: a check that did not run is never shown as proven.
const verifyOnly = (notRun: string[]): PhaseResult[] => [
  {
    phase: 'verify',
    ok: true,
    durationMs: 3000,
    clusters: [],
    checks: [{ name: 'readiness', cluster: 'cluster-1', ok: true, reason: 'all ready' }],
    evidence: [],
    ...(notRun.length > 0 ? { notRun } : {}),
  },
];

test('with checks narrowed, the headline names the proofs that are missing', () => {
  const text = renderSummary(config, verifyOnly(['chain', 'east-west', 'north-south']));
  assert.match(
    text,
    /^## mesh-federation ⚠️ partly proven — not run: chain, east-west, north-south$/m,
  );
  assert.doesNotMatch(text, /## mesh-federation ✅/);
  assert.match(text, /^### verify ⚠️ partly proven · /m, 'nor does the phase read as a pass');
  assert.match(text, /Not run \(so not proven\): `chain`, `east-west`, `north-south`/);
  const result = buildResult(config, verifyOnly(['chain']));
  assert.deepEqual(result.notRun, ['verify/chain']);
  assert.deepEqual(result.phases[0]?.notRun, ['chain']);
});

test('every check run and passed is the only ✅ headline', () => {
  assert.match(renderSummary(config, verifyOnly([])), /^## mesh-federation ✅$/m);
});

test('a phase skipped after a failure reads skipped, not failed in 0 ms', () => {
  const text = renderSummary(config, [
    {
      phase: 'spire',
      ok: false,
      durationMs: 900,
      clusters: [],
      checks: [],
      evidence: [],
      error: 'boom',
    },
    skippedPhase('istio'),
  ]);
  assert.match(text, /### istio ⏭️ skipped/);
  assert.doesNotMatch(text, /### istio ❌/);
  assert.equal(buildResult(config, [skippedPhase('istio')]).phases[0]?.skipped, true);
});

test('the summary says which profile ran and every pin a version input replaced', () => {
  const seed = renderSummary(config, results);
  assert.match(
    seed,
    /Profile `seed` \(workloads registered by the k8s-workload-registrar\): Istio 1\.22\.1 · SPIRE 1\.5\.1 · cert-manager v1\.15\.1/,
  );
  assert.doesNotMatch(seed, /SPIRE Controller Manager|instead of the pin/);
  const current = parseInputs(
    (name) =>
      ({ phase: 'plan', profile: 'current', 'istio-version': '1.32.0-alpha.eed52ebb66ad' })[name] ??
      '',
  );
  const md = renderSummary(current, results);
  assert.match(md, /Profile `current` \(workloads registered by the spire-controller-manager\)/);
  assert.match(md, /Istio \*\*1\.32\.0-alpha\.eed52ebb66ad\*\* \(instead of the pin 1\.31\.1\)/);
  assert.match(md, /SPIRE 1\.15\.3 · cert-manager v1\.21\.2 · SPIRE Controller Manager 0\.7\.0/);
  const result = buildResult(current, results);
  assert.equal(result.profile, 'current');
  assert.deepEqual(result.versions.istio, { version: '1.32.0-alpha.eed52ebb66ad', pin: '1.31.1' });
});
