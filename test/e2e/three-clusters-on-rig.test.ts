// The built action on three clusters (a rig of its own, instance 5): `all` sets up one
// full-mesh federation, every SPIRE server holding both other bundles, remote secrets
// between every pair, helloworld v<K> on cluster K, and the summary shows the 3×3 matrix;
// then `cleanup`. The rig is taken down after, so it never meets the other tests.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { down } from '../rig/rig.ts';
import type { RigLayout } from '../rig/layout.ts';
import type { ArtifactServer } from '../rig/artifact-server.ts';
import { startIsolatedRig, THREE_CLUSTER_RIG } from '../rig/isolated-rig.ts';
import { rigActionInputs, rigBinaries } from '../rig/local-inputs.ts';
import { explain, runAction } from '../../__tests__/helpers/run-action.ts';
import { kubectlJson, kubectlList, labelledObjects, spireServerExec } from './labelled.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
let layout: RigLayout;
let direct = '';
let artifacts: ArtifactServer;
let kubeconfigFile = '';
let kubectl = '';
let contexts: string[] = [];

const inputs = (phase: string) => rigActionInputs(phase, direct, contexts, artifacts);

interface ResultCheck {
  name: string;
  cluster: string;
  ok: boolean;
  status: string;
  reason: string;
}

before(async () => {
  kubectl = rigBinaries().kubectl;
  ({ layout, direct, artifacts } = await startIsolatedRig(THREE_CLUSTER_RIG));
  contexts = layout.clusters.map((c) => c.name);
  kubeconfigFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mf-three-')), 'kubeconfig');
  fs.writeFileSync(kubeconfigFile, direct, { mode: 0o600 });
  const clean = await runAction(inputs('cleanup'));
  assert.equal(clean.code, 0, explain(clean));
});

after(async () => {
  await artifacts?.close();
  if (kubeconfigFile) fs.rmSync(path.dirname(kubeconfigFile), { recursive: true, force: true });
  if (layout) await down(layout);
});

test('all on three clusters: full-mesh federation, remote secrets between every pair, v<K> on cluster K', async () => {
  assert.equal(contexts.length, 3);
  const r = await runAction(inputs('all'));
  assert.equal(r.code, 0, explain(r));
  const result = JSON.parse(r.outputs.result ?? '{}') as {
    ok: boolean;
    phases: { phase: string; clusters: { cluster: string }[]; checks: ResultCheck[] }[];
  };
  assert.equal(result.ok, true);
  for (const phase of result.phases.filter((p) => p.phase !== 'verify'))
    assert.deepEqual(
      phase.clusters.map((c) => c.cluster),
      contexts,
      `${phase.phase} ran on every cluster`,
    );

  const verify = result.phases.find((p) => p.phase === 'verify');
  const federation = verify?.checks.filter((c) => / bundle /.test(c.name)) ?? [];
  const tds = layout.clusters.map((c) => c.trustDomain);
  const expected = tds.flatMap((holder) =>
    tds.map((of) => (of === holder ? `own bundle ${of}` : `federated bundle ${of} on ${holder}`)),
  );
  assert.deepEqual(federation.map((c) => c.name).sort(), expected.sort());
  assert.ok(
    federation.every((c) => c.ok),
    federation.map((c) => `${c.name}: ${c.reason}`).join('\n'),
  );
  for (const context of contexts)
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

  for (const [k, c] of layout.clusters.entries()) {
    // What each real SPIRE server holds, read as the action reads it.
    const { stdout } = await run(kubectl, [
      '--kubeconfig',
      kubeconfigFile,
      '--context',
      c.name,
      ...spireServerExec(['bundle', 'list', '-format', 'spiffe']),
    ]);
    for (const other of tds.filter((td) => td !== c.trustDomain))
      assert.match(stdout, new RegExp(`\\* (spiffe://)?${other.replace('.', '\\.')}\\n`), c.name);

    // istiod on each cluster reads the two others through their remote secrets.
    const secrets = await kubectlList(kubectl, kubeconfigFile, c.name, [
      'get',
      'secrets',
      '-n',
      'istio-system',
      '-l',
      'istio/multiCluster=true',
    ]);
    assert.deepEqual(
      secrets.map((s) => s.metadata.name).sort(),
      contexts
        .filter((x) => x !== c.name)
        .map((x) => `istio-remote-secret-${x}`)
        .sort(),
      c.name,
    );

    const hello = (await kubectlJson(kubectl, kubeconfigFile, c.name, [
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
  const r = await runAction(inputs('cleanup'));
  assert.equal(r.code, 0, explain(r));
  for (const context of contexts)
    assert.deepEqual(
      (await labelledObjects(kubectl, kubeconfigFile, context)).map(
        (o) => `${o.kind}/${o.metadata.name}`,
      ),
      [],
      context,
    );
});
