// The action killed (SIGKILL) at every phase boundary and in the middle of an apply, as a
// cancelled job or a lost runner would leave it: every re-run gets past where the last one
// died, and the last leaves exactly what a clean `all` leaves (nothing duplicated, no Deployment
// rolled twice). On the fault tests' rig (instance 3).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { apiserverUrl, type RigLayout } from '../rig/layout.ts';
import type { ArtifactServer } from '../rig/artifact-server.ts';
import { FAULTS_RIG, startIsolatedRig, type IsolatedRig } from '../rig/isolated-rig.ts';
import { startFaultProxy, type FaultProxy } from '../rig/fault-proxy.ts';
import { rigActionInputs, rigBinaries } from '../rig/local-inputs.ts';
import { explain, runAction } from '../../__tests__/helpers/run-action.ts';
import { installedState } from './labelled.ts';

const CONTEXTS = ['cluster-1', 'cluster-2'];
let direct = '';
let artifacts: ArtifactServer;
let layout: RigLayout;
let rig: IsolatedRig | undefined;

before(async () => {
  rig = await startIsolatedRig(FAULTS_RIG);
  ({ layout, direct, artifacts } = rig);
  const first = await runAction(rigActionInputs('all', direct, CONTEXTS, artifacts));
  assert.equal(first.code, 0, explain(first));
});

after(async () => {
  await rig?.stop();
});

/** Through a proxy, the remote secrets must still name the API servers themselves. */
const throughProxy = (kubeconfig: string): Record<string, string> => ({
  ...rigActionInputs('all', kubeconfig, CONTEXTS, artifacts),
  'api-servers': layout.clusters.map(apiserverUrl).join(','),
});

async function installed(): Promise<Record<string, string[]>> {
  const kubeconfigFile = path.join(
    fs.mkdtempSync(path.join(os.tmpdir(), 'mf-kills-')),
    'kubeconfig',
  );
  fs.writeFileSync(kubeconfigFile, direct, { mode: 0o600 });
  try {
    return await installedState(rigBinaries().kubectl, kubeconfigFile, CONTEXTS);
  } finally {
    fs.rmSync(path.dirname(kubeconfigFile), { recursive: true, force: true });
  }
}

test('the action killed (SIGKILL) at each phase boundary and in the middle of an apply: every re-run gets further, and the last leaves what a clean all leaves', async () => {
  const clean = await installed();
  assert.ok((clean['cluster-1'] ?? []).length > 0, 'a clean all installed nothing');
  const cleanup = await runAction(rigActionInputs('cleanup', direct, CONTEXTS, artifacts));
  assert.equal(cleanup.code, 0, explain(cleanup));
  // Each run is killed at its point, and the next run (after the killed one's
  // run lock expired) must get past it: the phases before it converge again.
  for (const phase of ['spire', 'istio', 'examples', 'verify']) {
    const r = await runAction(rigActionInputs('all', direct, CONTEXTS, artifacts), {
      killWhen: { output: new RegExp(`phase ${phase}: starting`) },
    });
    assert.equal(r.code, null, `not killed before ${phase}: ${explain(r)}`);
    assert.doesNotMatch(r.stdout, /::error/, `a run killed before ${phase} failed first`);
  }

  // In the middle of an apply: from nothing again (a converged cluster gets no write), killed
  // once the istio phase has sent a few of its objects.
  const again = await runAction(rigActionInputs('cleanup', direct, CONTEXTS, artifacts));
  assert.equal(again.code, 0, explain(again));
  let midApply: () => void = () => {};
  const reached = new Promise<void>((resolve) => (midApply = resolve));
  let istioWrites = 0;
  const counting = await Promise.all(
    layout.clusters.map((c, i) =>
      startFaultProxy(c, {
        rate: 0,
        seed: i,
        maxFaults: 0,
        onWrite: (w) => {
          if (/^PATCH .*istio-system|^PATCH .*istio\.io/.test(w) && ++istioWrites === 8) midApply();
        },
      }),
    ),
  );
  try {
    const doc = YAML.parse(direct) as { clusters: { cluster: { server: string } }[] };
    for (const [i, c] of doc.clusters.entries()) c.cluster.server = (counting[i] as FaultProxy).url;
    const r = await runAction(throughProxy(YAML.stringify(doc)), { killWhen: { signal: reached } });
    assert.equal(r.code, null, `not killed mid-apply: ${explain(r)}`);
  } finally {
    await Promise.all(counting.map((p) => p.close()));
  }
  const half = await installed();
  const istioObjects = (refs: string[]): number => refs.filter((r) => /istio/.test(r)).length;
  const cluster = CONTEXTS.find((c) => istioObjects(half[c] ?? []) < istioObjects(clean[c] ?? []));
  assert.ok(cluster, 'the kill left an Istio install half-applied on some cluster');

  const last = await runAction(rigActionInputs('all', direct, CONTEXTS, artifacts));
  assert.equal(last.code, 0, explain(last));
  assert.deepEqual(await installed(), clean);
});
