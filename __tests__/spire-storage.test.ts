// The SPIRE server's volume on clusters without a default StorageClass (issue
// 7, item 5): an input names the class or drops the claim, and a claim that
// stays Pending is reported as such, naming that input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/config/inputs.ts';
import { InputError } from '../src/config/input-error.ts';
import { renderPhase } from '../src/render/index.ts';
import {
  CLAIM_GRACE_MS,
  pendingServerClaim,
  replaceServerForStorage,
  storageChanged,
  unbindableClaim,
  LEFT_CLAIM_GRACE_MS,
  waitForServer,
} from '../src/phases/spire.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';

interface ServerSpec {
  volumeClaimTemplates?: { metadata: { name: string }; spec: { storageClassName?: string } }[];
  template: { spec: { volumes: { name: string; emptyDir?: object }[] } };
}

function server(storageClass: string): ServerSpec {
  const config = parseInputs(
    (name) => ({ phase: 'plan', 'spire-storage-class': storageClass })[name] ?? '',
  );
  const sts = renderPhase(config, 'spire', config.clusters[0]!).objects.find(
    (o) => o.kind === 'StatefulSet',
  );
  return (sts as K8sObject & { spec: ServerSpec }).spec;
}

test('by default the claim names no class, so the cluster default applies', () => {
  assert.equal(server('').volumeClaimTemplates?.[0]?.spec.storageClassName, undefined);
});

test('a named class goes on the claim', () => {
  assert.equal(server('gp3').volumeClaimTemplates?.[0]?.spec.storageClassName, 'gp3');
});

test("'none' runs the server on an emptyDir with no claim", () => {
  const spec = server('none');
  assert.equal(spec.volumeClaimTemplates, undefined);
  assert.deepEqual(
    spec.template.spec.volumes.find((v) => v.name === 'spire-data'),
    { name: 'spire-data', emptyDir: {} },
  );
});

test('a class that is not a Kubernetes name is refused naming the input', () => {
  assert.throws(
    () => parseInputs((name) => ({ phase: 'plan', 'spire-storage-class': 'Fast SSD' })[name] ?? ''),
    (e: unknown) => e instanceof InputError && /spire-storage-class/.test(e.message),
  );
});

test('a Pending claim is reported with the input that fixes it', async () => {
  const cluster = new FakeCluster();
  assert.equal(await pendingServerClaim(cluster.asClient()), undefined);
  cluster.seed({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'spire-data-spire-server-0', namespace: 'spire' },
    spec: {},
    status: { phase: 'Pending' },
  });
  const error = await pendingServerClaim(cluster.asClient());
  assert.match(
    error?.message ?? '',
    /is Pending: it is still unbound after the whole wait \(the cluster's default StorageClass.*Set 'spire-storage-class'/,
  );
});

// ---- while waiting: a claim that cannot bind fails the wait at once --------

const NOW = Date.parse('2026-12-02T12:00:00Z');

const claim = (
  storageClassName?: string,
  phase = 'Pending',
  created = NOW - 5 * 60_000,
): K8sObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: {
    name: 'spire-data-spire-server-0',
    namespace: 'spire',
    creationTimestamp: new Date(created).toISOString(),
  },
  spec: storageClassName === undefined ? {} : { storageClassName },
  status: { phase },
});
const storageClass = (name: string, isDefault = false): K8sObject => ({
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: {
    name,
    ...(isDefault
      ? { annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } }
      : {}),
  },
});
const volume = (storageClassName: string | undefined, phase: string): K8sObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: { name: `pv-${storageClassName ?? 'none'}-${phase}` },
  spec: storageClassName === undefined ? {} : { storageClassName },
  status: { phase },
});

test('a Pending claim cannot bind with no class and no default class, or a class that is not there', () => {
  assert.match(unbindableClaim(claim(), [storageClass('gp2')], [], NOW) ?? '', /no default/);
  assert.match(
    unbindableClaim(claim('gp3'), [storageClass('gp2', true)], [], NOW) ?? '',
    /StorageClass 'gp3' does not exist/,
  );
});

test('a claim younger than the grace is left to a provisioner that may still bind it', () => {
  const young = claim(undefined, 'Pending', NOW - 30_000);
  assert.equal(unbindableClaim(young, [], [], NOW), undefined);
  assert.match(unbindableClaim(young, [], [], NOW + CLAIM_GRACE_MS) ?? '', /no default/);
  const undated = { ...claim(), metadata: { name: 'spire-data-spire-server-0' } };
  assert.equal(unbindableClaim(undated, [], [], NOW), undefined);
});

test('an old claim this run has only begun to wait for gets a short look first (its API server was down)', () => {
  const old = claim(undefined, 'Pending', NOW - 5 * CLAIM_GRACE_MS);
  assert.equal(unbindableClaim(old, [], [], NOW, NOW - 1000), undefined);
  assert.match(unbindableClaim(old, [], [], NOW + LEFT_CLAIM_GRACE_MS, NOW) ?? '', /no default/);
});

test('a Pending claim may still bind: a default or the named class exists, or a volume waits for it', () => {
  assert.equal(unbindableClaim(claim(), [storageClass('standard', true)], [], NOW), undefined);
  assert.equal(unbindableClaim(claim('gp3'), [storageClass('gp3')], [], NOW), undefined);
  assert.equal(unbindableClaim(claim(), [], [volume(undefined, 'Available')], NOW), undefined);
  assert.equal(unbindableClaim(claim('local'), [], [volume('local', 'Available')], NOW), undefined);
  assert.match(unbindableClaim(claim(), [], [volume(undefined, 'Bound')], NOW) ?? '', /no default/);
  assert.equal(unbindableClaim(claim(undefined, 'Bound'), [], [], NOW), undefined);
  assert.equal(unbindableClaim(null, [], [], NOW), undefined);
});

function spireObjects(storageClass = ''): K8sObject[] {
  const config = parseInputs(
    (name) => ({ phase: 'plan', 'spire-storage-class': storageClass })[name] ?? '',
  );
  return renderPhase(config, 'spire', config.clusters[0]!).objects;
}

test('the server wait fails as soon as its claim cannot bind, naming the input, long before the timeout', async () => {
  const cluster = new FakeCluster('cluster-1', 60_000);
  const sts = spireObjects().find((o) => o.kind === 'StatefulSet')!;
  cluster.seed({ ...sts, status: { replicas: 1, readyReplicas: 0 } });
  cluster.seed(claim(undefined, 'Pending', Date.now() - 2 * CLAIM_GRACE_MS));
  cluster.seed(storageClass('gp2'));
  const started = Date.now();
  await assert.rejects(waitForServer(cluster.asClient(), spireObjects()), (e: Error) =>
    /volume claim spire\/spire-data-spire-server-0 is Pending: it names no StorageClass and the cluster has no default one.*Set 'spire-storage-class'/.test(
      e.message,
    ),
  );
  const took = Date.now() - started;
  assert.ok(took >= LEFT_CLAIM_GRACE_MS && took < LEFT_CLAIM_GRACE_MS + 5000, `took ${took}ms`);
});

test('the server wait ends once the server is ready', async () => {
  const cluster = new FakeCluster('cluster-1', 10_000);
  const sts = spireObjects().find((o) => o.kind === 'StatefulSet')!;
  cluster.seed({ ...sts, status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1 } });
  cluster.seed(claim(undefined, 'Bound'));
  await waitForServer(cluster.asClient(), spireObjects());
});

// ---- a re-run that changes the storage -------------------------------------

function installed(storageClass: string, claimPhase?: string): FakeCluster {
  const cluster = new FakeCluster('cluster-1', 5000);
  const sts = spireObjects(storageClass).find((o) => o.kind === 'StatefulSet')!;
  cluster.seed(sts);
  if (claimPhase) cluster.seed(claim(storageClass || undefined, claimPhase));
  return cluster;
}

test('the server StatefulSet is replaced only when its claim templates change', () => {
  const server = (sc: string) => spireObjects(sc).find((o) => o.kind === 'StatefulSet')!;
  assert.equal(storageChanged(server(''), server('')), false);
  assert.equal(storageChanged(server('gp3'), server('gp3')), false);
  assert.equal(storageChanged(server(''), server('gp3')), true);
  assert.equal(storageChanged(server('gp3'), server('none')), true);
  assert.equal(storageChanged(server('none'), server('')), true);
});

test('a new class replaces the StatefulSet and its never-bound claim, so the new claim gets the class', async () => {
  const cluster = installed('', 'Pending');
  const out = await replaceServerForStorage(cluster.asClient(), spireObjects('gp3'));
  assert.deepEqual(cluster.events, [
    'delete StatefulSet/spire/spire-server',
    'delete PersistentVolumeClaim/spire/spire-data-spire-server-0',
  ]);
  assert.deepEqual(out.records, [
    { ref: 'PersistentVolumeClaim/spire/spire-data-spire-server-0', action: 'deleted' },
  ]);
  assert.match(out.notes.join('\n'), /replaced StatefulSet\/spire\/spire-server/);
});

test('a Bound claim holds the server keys: it is kept, and the run says so', async () => {
  const cluster = installed('gp2', 'Bound');
  const out = await replaceServerForStorage(cluster.asClient(), spireObjects('none'));
  assert.deepEqual(cluster.events, ['delete StatefulSet/spire/spire-server']);
  assert.match(
    out.notes.join('\n'),
    /kept PersistentVolumeClaim\/spire\/spire-data-spire-server-0/,
  );
});

test('the same storage, or a StatefulSet that is not ours, is left alone', async () => {
  const same = installed('gp3', 'Bound');
  await replaceServerForStorage(same.asClient(), spireObjects('gp3'));
  assert.deepEqual(same.events, []);
  const foreign = new FakeCluster('cluster-1', 5000);
  const sts = spireObjects('').find((o) => o.kind === 'StatefulSet')!;
  foreign.seed({ ...sts, metadata: { ...sts.metadata, labels: {} } });
  await replaceServerForStorage(foreign.asClient(), spireObjects('gp3'));
  assert.deepEqual(foreign.events, []);
});
