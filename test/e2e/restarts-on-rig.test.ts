// Restarts on the rig: one cluster's API server killed (SIGKILL) in the middle of `spire`. The
// run fails within about a minute, naming that cluster and no other; once the rig is back (kwok and
// the rig controller resume their watches, kwok's nodes and pods report Ready again), a re-run
// converges and leaves exactly what a clean `all` leaves. The action killed at phase boundaries
// and mid-apply is test/e2e/kills-on-rig.test.ts (`npm run test:kills`). On the fault tests'
// rig (instance 3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { up } from '../rig/rig.ts';
import { apiserverUrl, pkiPaths, type ClusterLayout } from '../rig/layout.ts';
import { apiRequest, credentialsFromFiles } from '../rig/kube-http.ts';
import { runningPid } from '../rig/processes.ts';
import { cleanAllState, faultRig } from './fault-rig.ts';
import { explain, runAction } from '../../__tests__/helpers/run-action.ts';

const fault = faultRig();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('an API server killed in the middle of spire fails the run naming its cluster within a minute; once it is back, a re-run converges with nothing duplicated', async () => {
  const rig = fault();
  const clean = await cleanAllState(rig);
  const target = rig.layout.clusters[1] as ClusterLayout;
  const creds = credentialsFromFiles(apiserverUrl(target), pkiPaths(target));
  const running = runAction(rig.inputs('all'));
  // The spire phase has begun on cluster-2 once its namespace exists.
  for (
    let waited = 0;
    (await apiRequest(creds, 'GET', '/api/v1/namespaces/spire')).status !== 200;
    waited += 250
  ) {
    assert.ok(waited < 240_000, 'the spire phase never started on cluster-2');
    await sleep(250);
  }
  const pid = runningPid(target.dir, 'kube-apiserver');
  assert.ok(pid, 'the rig runs cluster-2’s API server');
  process.kill(pid, 'SIGKILL');
  const failed = await running;
  assert.equal(failed.code, 1, explain(failed));
  assert.match(
    failed.stdout,
    /::error.*cluster 'cluster-2': the API server at \S+ has refused connections for \d+s/,
  );
  assert.doesNotMatch(failed.stdout, /::error.*cluster 'cluster-1'/, 'cluster-1 did not fail');

  // The rig must come back with it: kwok and the rig controller resume their watches.
  await up(rig.layout);
  const again = await runAction(rig.inputs('all'));
  assert.equal(again.code, 0, explain(again));
  assert.deepEqual(await rig.installed(), clean);
});
