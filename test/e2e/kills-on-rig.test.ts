// The action killed (SIGKILL) at every phase boundary and in the middle of an apply, as a
// cancelled job or a lost runner would leave it: every re-run gets past where the last one died,
// and the last leaves exactly what a clean `all` leaves (nothing duplicated, no Deployment rolled
// twice). On the fault tests' rig (instance 3); alone: `npm run test:kills`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanAllState, faultRig } from './fault-rig.ts';
import { startFaultProxy, throughProxies } from '../rig/fault-proxy.ts';
import { explain, runAction } from '../../__tests__/helpers/run-action.ts';

const fault = faultRig();

test('the action killed (SIGKILL) at each phase boundary and in the middle of an apply: every re-run gets further, and the last leaves what a clean all leaves', async () => {
  const rig = fault();
  const clean = await cleanAllState(rig);
  // Each run is killed at its point, and the next run (after the killed one's
  // run lock expired) must get past it: the phases before it converge again.
  for (const phase of ['spire', 'istio', 'examples', 'verify']) {
    const r = await runAction(rig.inputs('all'), {
      killWhen: { output: new RegExp(`phase ${phase}: starting`) },
    });
    assert.equal(r.code, null, `not killed before ${phase}: ${explain(r)}`);
    assert.doesNotMatch(r.stdout, /::error/, `a run killed before ${phase} failed first`);
  }

  // In the middle of an apply: from nothing again (a converged cluster gets no write), killed
  // once the istio phase has sent a few of its objects.
  const again = await runAction(rig.inputs('cleanup'));
  assert.equal(again.code, 0, explain(again));
  let midApply: () => void = () => {};
  const reached = new Promise<void>((resolve) => (midApply = resolve));
  let istioWrites = 0;
  const counting = await Promise.all(
    rig.layout.clusters.map((c, i) =>
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
    const r = await runAction(rig.throughProxy(throughProxies(rig.direct, counting)), {
      killWhen: { signal: reached },
    });
    assert.equal(r.code, null, `not killed mid-apply: ${explain(r)}`);
  } finally {
    await Promise.all(counting.map((p) => p.close()));
  }
  const half = await rig.installed();
  const istioObjects = (refs: string[]): number => refs.filter((r) => /istio/.test(r)).length;
  const cluster = rig.contexts.find(
    (c) => istioObjects(half[c] ?? []) < istioObjects(clean[c] ?? []),
  );
  assert.ok(cluster, 'the kill left an Istio install half-applied on some cluster');

  const last = await runAction(rig.inputs('all'));
  assert.equal(last.code, 0, explain(last));
  assert.deepEqual(await rig.installed(), clean);
});
