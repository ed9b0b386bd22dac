// Two runs on one cluster never interleave: the second waits for the run lock
// and names the run holding it; a lock whose holder died is taken over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acquireRunLock } from '../src/cluster/run-lock.ts';
import { RUN_LOCK } from '../src/model/names.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';

const nightly = { id: 'run-1', description: 'nightly · rebuild · attempt 1 (…/runs/1)' };
const preview = { id: 'run-2', description: 'preview · mesh · attempt 1 (…/runs/2)' };
const REF = {
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: RUN_LOCK.name, namespace: RUN_LOCK.namespace },
};

test('a second run waits for the first, naming it, and goes on once the first released', async () => {
  const cluster = new FakeCluster('cluster-1', 5000);
  const said: string[] = [];
  const first = await acquireRunLock(cluster, nightly, () => {});
  let secondHolds = false;
  const second = acquireRunLock(cluster, preview, (line) => said.push(line)).then((lock) => {
    secondHolds = true;
    return lock;
  });
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(secondHolds, false, 'no interleaving: the second run is still waiting');
  assert.match(said.join('\n'), /waiting: the cluster is locked by nightly · rebuild · attempt 1/);
  assert.equal(await first.release(), undefined);
  const lock = await second;
  assert.equal(
    ((await cluster.read(REF))?.spec as { holderIdentity: string }).holderIdentity,
    'run-2',
  );
  assert.equal(await lock.release(), undefined);
  assert.equal(await cluster.read(REF), null, 'released: no Lease left behind');
});

test('a run that cannot get the lock within its timeout fails naming the run that holds it', async () => {
  const cluster = new FakeCluster('cluster-1', 700);
  await acquireRunLock(cluster, nightly, () => {});
  await assert.rejects(
    acquireRunLock(cluster, preview, () => {}),
    /cluster 'cluster-1': timed out .* locked by nightly · rebuild · attempt 1 \(…\/runs\/1\) \(since /,
  );
});

test('a lock its holder stopped renewing is taken over once expired; the one taking it does not wait', async () => {
  const cluster = new FakeCluster('cluster-1', 700);
  const old = new Date(Date.now() - 5 * 60_000).toISOString().replace('Z', '000Z');
  cluster.seed({
    ...REF,
    metadata: { ...REF.metadata, annotations: { [RUN_LOCK.holderAnnotation]: 'a killed runner' } },
    spec: {
      holderIdentity: 'dead-run',
      leaseDurationSeconds: 60,
      acquireTime: old,
      renewTime: old,
    },
  });
  const lock = await acquireRunLock(cluster, preview, () => {});
  assert.equal(
    ((await cluster.read(REF))?.spec as { holderIdentity: string }).holderIdentity,
    'run-2',
  );
  await lock.release();
});

test('two runs starting at the same moment: exactly one holds the lock at a time', async () => {
  const cluster = new FakeCluster('cluster-1', 5000);
  let holding = 0;
  let most = 0;
  const work = async (holder: typeof nightly): Promise<void> => {
    const lock = await acquireRunLock(cluster, holder, () => {});
    holding++;
    most = Math.max(most, holding);
    await new Promise((r) => setTimeout(r, 150));
    holding--;
    await lock.release();
  };
  await Promise.all([work(nightly), work(preview)]);
  assert.equal(most, 1);
});
