// The built action on three clusters (a rig of its own, instance 5): `all` sets up one
// full-mesh federation, every SPIRE server holding both other bundles, remote secrets
// between every pair, helloworld v<K> on cluster K, and the summary shows the 3×3 matrix;
// then `cleanup`. The rig is taken down after, so it never meets the other tests.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startIsolatedRig, THREE_CLUSTER_RIG, type IsolatedRig } from '../rig/isolated-rig.ts';
import { rigBinaries } from '../rig/local-inputs.ts';
import { explain, runAction } from '../../__tests__/helpers/run-action.ts';
import { kubectlJson, kubectlList, labelledObjects, spireServerExec } from './labelled.ts';

const run = promisify(execFile);
let rig: IsolatedRig;
let kubectl = '';

interface ResultCheck {
  name: string;
  cluster: string;
  ok: boolean;
  status: string;
  reason: string;
}

before(async () => {
  kubectl = rigBinaries().kubectl;
  rig = await startIsolatedRig(THREE_CLUSTER_RIG);
  const clean = await runAction(rig.inputs('cleanup'));
  assert.equal(clean.code, 0, explain(clean));
});

after(() => rig?.stop());

test('all on three clusters: full-mesh federation, remote secrets between every pair, v<K> on cluster K', async () => {
  assert.equal(rig.contexts.length, 3);
  const r = await runAction(rig.inputs('all'));
  assert.equal(r.code, 0, explain(r));
  const result = JSON.parse(r.outputs.result ?? '{}') as {
    ok: boolean;
    phases: { phase: string; clusters: { cluster: string }[]; checks: ResultCheck[] }[];
  };
  assert.equal(result.ok, true);
  for (const phase of result.phases.filter((p) => p.phase !== 'verify'))
    assert.deepEqual(
      phase.clusters.map((c) => c.cluster),
      rig.contexts,
      `${phase.phase} ran on every cluster`,
    );

  const verify = result.phases.find((p) => p.phase === 'verify');
  const federation = verify?.checks.filter((c) => / bundle /.test(c.name)) ?? [];
  const tds = rig.layout.clusters.map((c) => c.trustDomain);
  const expected = tds.flatMap((holder) =>
    tds.map((of) => (of === holder ? `own bundle ${of}` : `federated bundle ${of} on ${holder}`)),
  );
  assert.deepEqual(federation.map((c) => c.name).sort(), expected.sort());
  assert.ok(
    federation.every((c) => c.ok),
    federation.map((c) => `${c.name}: ${c.reason}`).join('\n'),
  );
  for (const context of rig.contexts)
    assert.ok(
      verify?.checks.some((c) => c.cluster === context && c.status === 'pass'),
      `readiness and identities ran on ${context}`,
    );

  // The summary's matrix: every row the server, every column whose bundle it holds.
  assert.match(r.summary, /#### Federation: which server holds whose bundle ✅ pass/);
  assert.match(r.summary, /\| server ↓ holds bundle of → \| foo\.com \| bar\.com \| baz\.com \|/);
  assert.match(r.summary, /\| foo\.com \| — own \| ✅ same roots \| ✅ same roots \|/);
  assert.match(r.summary, /\| bar\.com \| ✅ same roots \| — own \| ✅ same roots \|/);
  assert.match(r.summary, /\| baz\.com \| ✅ same roots \| ✅ same roots \| — own \|/);

  for (const [k, c] of rig.layout.clusters.entries()) {
    // What each real SPIRE server holds, read as the action reads it.
    const { stdout } = await run(kubectl, [
      '--kubeconfig',
      rig.kubeconfigFile,
      '--context',
      c.name,
      ...spireServerExec(['bundle', 'list', '-format', 'spiffe']),
    ]);
    for (const other of tds.filter((td) => td !== c.trustDomain))
      assert.match(stdout, new RegExp(`\\* (spiffe://)?${other.replace('.', '\\.')}\\n`), c.name);

    // istiod on each cluster reads the two others through their remote secrets.
    const secrets = await kubectlList(kubectl, rig.kubeconfigFile, c.name, [
      'get',
      'secrets',
      '-n',
      'istio-system',
      '-l',
      'istio/multiCluster=true',
    ]);
    assert.deepEqual(
      secrets.map((s) => s.metadata.name).sort(),
      rig.contexts
        .filter((x) => x !== c.name)
        .map((x) => `istio-remote-secret-${x}`)
        .sort(),
      c.name,
    );

    const hello = (await kubectlJson(kubectl, rig.kubeconfigFile, c.name, [
      'get',
      'deployments',
      '-n',
      'helloworld',
    ])) as { items: { metadata: { name: string } }[] };
    assert.deepEqual(
      hello.items.map((d) => d.metadata.name),
      [`helloworld-v${k + 1}`],
      c.name,
    );
  }
});

test('cleanup removes everything labelled from all three clusters', async () => {
  const r = await runAction(rig.inputs('cleanup'));
  assert.equal(r.code, 0, explain(r));
  for (const context of rig.contexts)
    assert.deepEqual(
      (await labelledObjects(kubectl, rig.kubeconfigFile, context)).map(
        (o) => `${o.kind}/${o.metadata.name}`,
      ),
      [],
      context,
    );
});
