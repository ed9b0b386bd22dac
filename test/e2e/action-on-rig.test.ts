// The built action as a process against two real Kubernetes control planes
// (test/rig): all, all again (nothing changes), manifest generate of every
// IstioOperator, cleanup twice, and a stopped API server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { up } from '../rig/rig.ts';
import { startArtifactServer, type ArtifactServer } from '../rig/artifact-server.ts';
import { rigActionInputs, rigBinaries } from '../rig/local-inputs.ts';
import {
  explain,
  filesUnder,
  runAction,
  type ActionRun,
} from '../../__tests__/helpers/run-action.ts';
import {
  kubectlJson as listOrObject,
  labelledObjects,
  refOf,
  spireServerExec,
  type Listed,
} from './labelled.ts';
import { decodeKubeconfig } from '../../src/config/kubeconfig.ts';

const run = promisify(execFile);
const CONTEXTS = ['cluster-1', 'cluster-2'];

let kubeconfig = '';
/** Written once: concurrent kubectl calls must never see it half-written. */
let kubeconfigFile = '';
let kubectl = '';
let istioctl = '';
let artifacts: ArtifactServer;
const timings: Record<string, number> = {};

const inputs = (phase: string): Record<string, string> =>
  rigActionInputs(phase, kubeconfig, CONTEXTS, artifacts);

async function kubectlJson(context: string, args: string[]): Promise<{ items: Listed[] }> {
  return (await listOrObject(kubectl, kubeconfigFile, context, args)) as { items: Listed[] };
}

/**
 * Every labelled object, with what would show a write of ours: the
 * resourceVersion, or, for objects whose controllers keep writing their status
 * (an HPA without a metrics server, a Deployment), a digest of everything but
 * status and bookkeeping.
 */
async function owned(context: string): Promise<Map<string, string>> {
  const items = await labelledObjects(kubectl, kubeconfigFile, context);
  return new Map(
    items.map((o) => {
      if (!('status' in o)) return [refOf(o), `rv ${o.metadata.resourceVersion}`];
      const { status: _status, ...rest } = o;
      const {
        resourceVersion: _rv,
        managedFields: _mf,
        ...metadata
      } = rest.metadata as typeof o.metadata & { managedFields?: unknown };
      return [
        refOf(o),
        `digest ${createHash('sha256')
          .update(JSON.stringify({ ...rest, metadata }))
          .digest('hex')}`,
      ];
    }),
  );
}

function result(run: ActionRun) {
  return JSON.parse(run.outputs.result ?? '{}') as {
    ok: boolean;
    phases: {
      phase: string;
      ok: boolean;
      durationMs: number;
      clusters: {
        cluster: string;
        created: number;
        changed: number;
        unchanged: number;
        deleted: number;
        error?: string;
      }[];
      checks: { name: string; ok: boolean; reason: string; status?: string }[];
    }[];
  };
}

before(async () => {
  const bins = rigBinaries();
  kubectl = bins.kubectl;
  istioctl = bins.istioctl;
  const rig = await up();
  kubeconfig = fs.readFileSync(rig.kubeconfig, 'utf8');
  kubeconfigFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mf-e2e-')), 'kubeconfig');
  fs.writeFileSync(kubeconfigFile, kubeconfig, { mode: 0o600 });
  artifacts = await startArtifactServer();
  // Start from a clean slate so the first `all` really creates everything.
  await runAction(inputs('cleanup'));
});

after(async () => {
  await artifacts?.close();
  if (kubeconfigFile) fs.rmSync(path.dirname(kubeconfigFile), { recursive: true, force: true });
  console.log(`rig timings (ms): ${JSON.stringify(timings)}`);
});

test('phase all succeeds on both clusters', async () => {
  const r = await runAction(inputs('all'));
  timings.all = r.ms;
  assert.equal(r.code, 0, explain(r));
  const res = result(r);
  assert.equal(res.ok, true);
  assert.deepEqual(
    res.phases.map((p) => p.phase),
    ['cert-manager', 'spire', 'istio', 'examples', 'verify'],
  );
  const created = res.phases.flatMap((p) => p.clusters).reduce((n, c) => n + c.created, 0);
  assert.ok(created > 100, `created ${created} objects`);
  const verify = res.phases.find((p) => p.phase === 'verify');
  assert.ok(
    verify?.checks.some((c) => c.name.startsWith('federated bundle') && c.ok),
    'real SPIRE servers hold each other’s bundles',
  );
  // The rig has no data plane, so verify-checks leaves out chain and traffic: those are
  // listed as not run, never as passed, and every check that did run passed.
  const ran = verify?.checks.filter((c) => c.status !== 'not-run') ?? [];
  assert.ok(ran.length > 0 && ran.every((c) => c.ok));
  assert.deepEqual(
    [...new Set(verify?.checks.filter((c) => c.status === 'not-run').map((c) => c.name))].sort(),
    ['chain', 'east-west', 'north-south'],
  );
  assert.ok(verify?.checks.filter((c) => c.status === 'not-run').every((c) => !c.ok));
  assert.match(r.summary, /### spire ✅/);
  // The rig's istio-overlay reached every istiod, next to the action's own env.
  assert.match(r.summary, /\*\*Istio overlay\*\*/);
  for (const context of CONTEXTS) {
    const istiod = (await kubectlJson(context, [
      'get',
      'deployment',
      'istiod',
      '-n',
      'istio-system',
    ])) as unknown as {
      spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
    };
    const env = Object.fromEntries(
      (istiod.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]),
    );
    assert.equal(env.PILOT_ENABLE_METADATA_EXCHANGE, 'false', context);
    assert.equal(env.PILOT_ENABLE_ALPN_FILTER, 'false', context);
    assert.equal(env.CLUSTER_ID, context === 'cluster-1' ? 'cluster-1' : 'cluster-2', context);
  }
});

test('no gateway pod was ever created before the sidecar injector answered', async () => {
  // The rig refuses pods that still name `image: auto` (as a node would never start them),
  // so a gateway applied too early leaves FailedCreate events behind.
  for (const context of CONTEXTS) {
    const events = (await kubectlJson(context, [
      'get',
      'events',
      '-n',
      'istio-system',
      '--field-selector',
      'reason=FailedCreate',
    ])) as unknown as { items: { message?: string }[] };
    const early = events.items.filter((e) => /image "auto"/.test(e.message ?? ''));
    assert.deepEqual(
      early.map((e) => e.message),
      [],
      `gateways created too early on ${context}`,
    );
    const pods = (await kubectlJson(context, [
      'get',
      'pods',
      '-n',
      'istio-system',
      '-l',
      'sidecar.istio.io/inject=true',
    ])) as unknown as { items: { spec: { containers: { image: string }[] } }[] };
    assert.ok(pods.items.length >= 2, 'ingress and east-west gateway pods exist');
    for (const pod of pods.items) assert.ok(pod.spec.containers.every((c) => c.image !== 'auto'));
  }
});

test('a second all changes nothing and reports every object unchanged', async () => {
  const before = await Promise.all(CONTEXTS.map(owned));
  const r = await runAction(inputs('all'));
  timings.secondAll = r.ms;
  assert.equal(r.code, 0, explain(r));
  for (const phase of result(r).phases)
    for (const c of phase.clusters)
      assert.deepEqual(
        [phase.phase, c.cluster, c.created, c.changed],
        [phase.phase, c.cluster, 0, 0],
        `${phase.phase} on ${c.cluster}: ${c.unchanged} unchanged`,
      );
  const afterRun = await Promise.all(CONTEXTS.map(owned));
  for (const [i, map] of before.entries()) {
    assert.ok(map.size > 50, `${CONTEXTS[i]} holds ${map.size} labelled objects`);
    const moved = [...map].filter(([ref, rv]) => afterRun[i]?.get(ref) !== rv).map(([ref]) => ref);
    assert.deepEqual(moved, [], `objects written on ${CONTEXTS[i]}`);
    assert.ok(
      [...map.values()].filter((v) => v.startsWith('rv ')).length > 20,
      'most objects compare by resourceVersion',
    );
  }
});

/**
 * A failed run leaves a diagnostics folder a person can read to find the
 * cause, and not one credential or Secret value in it.
 */
async function diagnosticsFolderOfAFailure(r: ActionRun, failed: string[]): Promise<void> {
  const dir = r.outputs['diagnostics-dir'] ?? '';
  assert.ok(dir !== '' && fs.existsSync(path.join(dir, 'README.md')), explain(r));
  const readme = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
  for (const title of failed) assert.ok(readme.includes(`- ${title}: `), `${title} in:\n${readme}`);
  for (const cluster of CONTEXTS) {
    for (const file of ['events.txt', 'spire-entries.txt', 'spire-bundles.txt'])
      assert.ok(fs.existsSync(path.join(dir, cluster, file)), `${cluster}/${file}`);
    assert.match(
      fs.readFileSync(path.join(dir, cluster, 'spire-entries.txt'), 'utf8'),
      /spiffe:\/\//,
      'the SPIRE server answered entry show',
    );
  }
  const files = filesUnder(dir).map((f) => fs.readFileSync(f, 'utf8'));
  const secretValues = await Promise.all(
    CONTEXTS.map(async (c) =>
      Object.values(
        (
          (await kubectlJson(c, ['get', 'secret', '-n', 'istio-system', 'cacerts'])) as unknown as {
            data: Record<string, string>;
          }
        ).data,
      ),
    ),
  );
  const forbidden = [
    ...decodeKubeconfig('kubeconfig', kubeconfig).credentials,
    ...secretValues.flat(),
    'PRIVATE KEY',
  ].filter((s) => s.length >= 8);
  for (const text of files)
    for (const secret of forbidden)
      assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 12)}…) is in the diagnostics`);
}

test('rotate re-issues cacerts with the new lifetime through the real cert-manager; without istiod the pickup check fails', async () => {
  const before = await kubectlJson('cluster-1', ['get', 'secret', '-n', 'istio-system', 'cacerts']);
  const r = await runAction(inputs('rotate'));
  timings.rotate = r.ms;
  // The rig runs no istiod, so its log can never show the new certificate: an honest failure.
  assert.equal(r.code, 1, explain(r));
  const checks = result(r).phases[0]?.checks ?? [];
  for (const cluster of CONTEXTS) {
    const rotation = checks.find(
      (c) => c.name === 'rotation' && (c as { cluster?: string }).cluster === cluster,
    );
    assert.ok(rotation?.ok, `${cluster}: ${rotation?.reason}`);
    const pickup = checks.find(
      (c) => c.name === 'istiod-pickup' && (c as { cluster?: string }).cluster === cluster,
    );
    assert.equal(pickup?.ok, false);
    assert.match(pickup?.reason ?? '', /istiod did not log the new CA certificate/);
    // Each failed check is an annotation on the run's page, titled phase · check · cluster.
    assert.match(
      r.stdout,
      new RegExp(`^::error title=rotate · istiod-pickup · ${cluster}::istiod did not log`, 'm'),
    );
  }
  await diagnosticsFolderOfAFailure(
    r,
    CONTEXTS.map((c) => `rotate · istiod-pickup · ${c}`),
  );
  const cert = (await kubectlJson('cluster-1', [
    'get',
    'certificate',
    '-n',
    'istio-system',
    'cacerts',
  ])) as unknown as { spec: { duration: string; renewBefore: string } };
  assert.deepEqual([cert.spec.duration, cert.spec.renewBefore], ['720h', '360h']);
  const afterRotate = await kubectlJson('cluster-1', [
    'get',
    'secret',
    '-n',
    'istio-system',
    'cacerts',
  ]);
  assert.notEqual(
    (afterRotate as unknown as { data: Record<string, string> }).data['tls.crt'],
    (before as unknown as { data: Record<string, string> }).data['tls.crt'],
    'a new certificate was issued',
  );
  // Put the seed's lifetime back for the tests that follow.
  const back = await runAction(inputs('cert-manager'));
  assert.equal(back.code, 0, explain(back));
});

test('a federated bundle removed from one server turns verify red, naming it; spire puts it back', async () => {
  await run(kubectl, [
    '--kubeconfig',
    kubeconfigFile,
    '--context',
    'cluster-1',
    ...spireServerExec(['bundle', 'delete', '-id', 'spiffe://bar.com', '-mode', 'dissociate']),
  ]);
  const red = await runAction({ ...inputs('verify'), 'verify-checks': 'federation' });
  assert.equal(red.code, 1, explain(red));
  const name = 'federated bundle bar.com on foo.com';
  const check = result(red).phases[0]?.checks.find((c) => c.name === name);
  assert.equal(check?.ok, false);
  assert.match(
    check?.reason ?? '',
    /missing bundle: foo\.com's server holds no bundle for bar\.com/,
  );
  assert.match(
    red.stdout,
    new RegExp(`^::error title=verify · ${name} · cluster-1::missing bundle`, 'm'),
  );
  await diagnosticsFolderOfAFailure(red, [`verify · ${name} · cluster-1`]);
  assert.doesNotMatch(
    fs.readFileSync(
      path.join(red.outputs['diagnostics-dir'] ?? '', 'cluster-1', 'spire-bundles.txt'),
      'utf8',
    ),
    /bar\.com/,
    'the diagnostics show the bundle missing',
  );

  const repair = await runAction(inputs('spire'));
  assert.equal(repair.code, 0, explain(repair));
  const green = await runAction({ ...inputs('verify'), 'verify-checks': 'federation' });
  assert.equal(green.code, 0, explain(green));
  assert.equal(green.outputs['diagnostics-dir'], undefined, 'no failure, no diagnostics');

  // `-mode dissociate` also stripped bar.com from the entries' federatesWith,
  // and the registrar never puts it back on an existing entry (1.5.1 compares
  // only SPIFFE ID, parent and DNS names): new pods get new entries.
  for (const namespace of ['helloworld', 'sleep'])
    await run(kubectl, [
      '--kubeconfig',
      kubeconfigFile,
      '--context',
      'cluster-1',
      'delete',
      'pods',
      '--all',
      '-n',
      namespace,
      '--wait=false',
    ]);
  let identities = await runAction({ ...inputs('verify'), 'verify-checks': 'identities' });
  for (let i = 0; i < 20 && identities.code !== 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    identities = await runAction({ ...inputs('verify'), 'verify-checks': 'identities' });
  }
  assert.equal(identities.code, 0, explain(identities));
});

test('two runs at once never interleave: one waits for the other’s run lock, naming it', async () => {
  // The same run twice: both do the same work before they reach for the lock
  // (an `all` checks its istio-overlay with istioctl first), so they meet
  // there. A short run against a long one may be over before the other looks.
  const [a, b] = await Promise.all([runAction(inputs('all')), runAction(inputs('all'))]);
  assert.equal(a.code, 0, explain(a));
  assert.equal(b.code, 0, explain(b));
  const waited = [a, b].filter((r) => /waiting: the cluster is locked by a run on /.test(r.stdout));
  // At least one waited; in the full suite both have been seen waiting (for a
  // lock an earlier test's run left behind, not yet explained), never none.
  assert.ok(waited.length >= 1, 'a run waited for the other');
  for (const context of CONTEXTS) {
    const { stdout } = await run(kubectl, [
      '--kubeconfig',
      kubeconfigFile,
      '--context',
      context,
      'get',
      'leases',
      '-n',
      'kube-system',
      '-o',
      'name',
    ]);
    assert.doesNotMatch(stdout, /mesh-federation-run/, `${context}: the lock is released`);
  }
});

test('every cluster’s IstioOperators pass istioctl manifest generate', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-plan-'));
  const r = await runAction({ ...inputs('plan'), 'manifests-dir': dir });
  assert.equal(r.code, 0, explain(r));
  for (const context of CONTEXTS) {
    const docs = YAML.parseAllDocuments(
      fs.readFileSync(path.join(dir, `${context}-istio.yaml`), 'utf8'),
    ).map((d) => d.toJS());
    const operators = docs.filter((d) => d?.kind === 'IstioOperator');
    assert.equal(operators.length, 2, 'control plane and east-west gateway');
    for (const op of operators) {
      const file = path.join(dir, `${context}-${op.metadata.name}.iop.yaml`);
      fs.writeFileSync(file, YAML.stringify(op));
      const { stdout } = await run(istioctl, ['manifest', 'generate', '-f', file], {
        maxBuffer: 64 * 1024 * 1024,
      });
      assert.match(stdout, /kind: Deployment/, `${op.metadata.name} renders workloads`);
    }
  }
});

test('cleanup removes everything labelled and its namespaces; a second cleanup succeeds', async () => {
  const r = await runAction(inputs('cleanup'));
  timings.cleanup = r.ms;
  assert.equal(r.code, 0, explain(r));
  for (const context of CONTEXTS) {
    assert.deepEqual(
      [...(await owned(context)).keys()],
      [],
      `nothing labelled is left on ${context}`,
    );
    const namespaces = (await kubectlJson(context, ['get', 'namespaces'])).items.map(
      (n) => n.metadata.name,
    );
    for (const ns of ['cert-manager', 'spire', 'istio-system', 'helloworld', 'sleep', 'bookinfo'])
      assert.ok(!namespaces.includes(ns), `${ns} is gone from ${context}`);
  }
  const again = await runAction(inputs('cleanup'));
  assert.equal(again.code, 0, explain(again));
  assert.ok(result(again).phases[0]?.clusters.every((c) => c.deleted === 0));
});

test('a kubeconfig pointing at a stopped API server fails naming the cluster, within the timeout', async () => {
  const doc = YAML.parse(kubeconfig);
  const cluster = doc.clusters.find(
    (c: { name: string }) =>
      doc.contexts.find(
        (x: { name: string; context: { cluster: string } }) => x.name === 'cluster-2',
      ).context.cluster === c.name,
  );
  cluster.cluster.server = 'https://127.0.0.1:1'; // nothing listens on port 1
  const r = await runAction({
    ...inputs('verify'),
    kubeconfig: YAML.stringify(doc),
    timeout: '10s',
  });
  assert.equal(r.code, 1);
  assert.ok(r.ms < 40_000, `took ${r.ms} ms`);
  assert.match(
    r.stdout,
    /::error::cluster 'cluster-2': cannot reach the API server at https:\/\/127\.0\.0\.1:1/,
  );
});
