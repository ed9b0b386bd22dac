// The built action through a proxy that answers a fifth of the API calls with
// 429 (Retry-After), 503 or a reset connection, as a flaky network or a busy
// API server would, and ends every watch after 2 s as a server at its request
// timeout does: `all` still succeeds, and the result counts the retries.
// It runs on a rig of its own (instance 3), started fresh and taken down
// after, so no state left by the other tests decides what it proves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { faultRig } from './fault-rig.ts';
import {
  countWrites,
  startFaultProxy,
  throughProxies,
  type FaultProxy,
} from '../rig/fault-proxy.ts';
import { explain, runAction } from '../../__tests__/helpers/run-action.ts';

let faulty = '';
let proxies: FaultProxy[] = [];
const fault = faultRig(
  async (rig) => {
    proxies = await Promise.all(
      rig.layout.clusters.map((c, i) =>
        startFaultProxy(c, {
          rate: 0.2,
          seed: 20261203 + i,
          maxFaults: 500,
          endWatchesAfterMs: 2000,
        }),
      ),
    );
    faulty = throughProxies(rig.direct, proxies);
  },
  async () => {
    await Promise.all(proxies.map((p) => p.close()));
  },
);

test('a fifth of the API calls fail (429, 503, reset) and every watch ends after 2 s: all still succeeds and counts the retries', async () => {
  const r = await runAction(fault().throughProxy(faulty));
  const injected = proxies.map((p) => ({
    ...p.faults,
    passed: p.passed,
    watchesEnded: p.watchesEnded,
  }));
  assert.equal(r.code, 0, `${explain(r)}\ninjected: ${JSON.stringify(injected)}`);
  for (const p of proxies) {
    for (const kind of ['429', '503', 'reset'] as const)
      assert.ok(p.faults[kind] > 0, `some ${kind} injected: ${JSON.stringify(injected)}`);
    // Ended watches were watched again (the run waited for what they watched), never taken
    // for the condition or for a timeout: the run succeeded.
    assert.ok(p.watchesEnded > 0, `some watches ended early: ${JSON.stringify(injected)}`);
  }
  const result = JSON.parse(r.outputs.result ?? '{}') as {
    phases: { clusters: { cluster: string; retries: number }[] }[];
  };
  const retries = result.phases.flatMap((p) => p.clusters).reduce((n, c) => n + c.retries, 0);
  assert.ok(retries > 0, 'the result counts the retried calls');
  assert.match(r.summary, /\d+ API calls retried/);
  console.log(`faults injected: ${JSON.stringify(injected)}; retries counted: ${retries}`);
});

test('a second all, with the cluster already right, sends no write', async () => {
  const {
    result: r,
    writes,
    lockSeenEverywhere,
  } = await countWrites(fault().layout, fault().direct, (k) => runAction(fault().throughProxy(k)));
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(writes, [], `writes sent by a no-op all:\n${writes.join('\n')}`);
  assert.ok(
    lockSeenEverywhere,
    'the run lock was taken through the proxy, so the run did go through it',
  );
});
