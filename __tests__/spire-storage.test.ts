// The SPIRE server's volume on clusters without a default StorageClass (issue
// 7, item 5): an input names the class or drops the claim, and a claim that
// stays Pending is reported as such, naming that input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/inputs.ts';
import { InputError } from '../src/input-error.ts';
import { renderPhase } from '../src/render/index.ts';
import { pendingServerClaim } from '../src/phases/spire.ts';
import type { K8sObject } from '../src/k8s-object.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';

interface ServerSpec {
  volumeClaimTemplates?: { metadata: { name: string }; spec: { storageClassName?: string } }[];
  template: { spec: { volumes: { name: string; emptyDir?: object }[] } };
}

function server(storageClass: string): ServerSpec {
  const { config } = parseInputs(
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
  assert.match(error?.message ?? '', /still Pending .*Set 'spire-storage-class'/);
});
