// Cleanup on the in-memory cluster (issue 7, items 4 and 14): the CSI driver
// goes only after every pod that mounts it, and what the install caused
// outside its own objects (istiod's root-cert ConfigMaps, cert-manager's
// leader-election Leases) goes too, while nothing foreign is touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leasesNamedByRoles, podsMountingDriver, runCleanup } from '../src/phases/cleanup.ts';
import type { RunContext } from '../src/phases/types.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';
import { labelObject } from '../src/render/labels.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';

const csiVolume = { name: 'workload-socket', csi: { driver: 'csi.spiffe.io', readOnly: true } };

function gatewayDeployment(): K8sObject {
  return labelObject(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'istio-eastwestgateway', namespace: 'istio-system' },
      spec: {
        selector: { matchLabels: { app: 'istio-eastwestgateway' } },
        template: {
          metadata: { labels: { app: 'istio-eastwestgateway' } },
          spec: { containers: [{ name: 'istio-proxy', image: 'proxyv2' }], volumes: [csiVolume] },
        },
      },
    },
    'istio',
  );
}

function istiod(): K8sObject {
  return labelObject(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'istiod', namespace: 'istio-system', labels: { app: 'istiod' } },
      spec: {
        selector: { matchLabels: { app: 'istiod' } },
        template: {
          metadata: { labels: { app: 'istiod' } },
          spec: { containers: [{ name: 'discovery', image: 'pilot' }] },
        },
      },
    },
    'istio',
  );
}

const ours = (o: K8sObject, phase: string): K8sObject => labelObject(o, phase);

async function installedCluster(): Promise<FakeCluster> {
  const cluster = new FakeCluster();
  cluster.podTerminationMs = 60;
  for (const ns of ['istio-system', 'spire', 'cert-manager'])
    await cluster.applyOne(
      ours(
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
        ns === 'istio-system' ? 'cert-manager' : ns === 'spire' ? 'spire' : 'cert-manager',
      ),
    );
  await cluster.applyOne(
    ours(
      { apiVersion: 'storage.k8s.io/v1', kind: 'CSIDriver', metadata: { name: 'csi.spiffe.io' } },
      'spire',
    ),
  );
  await cluster.applyOne(gatewayDeployment());
  await cluster.applyOne(istiod());
  await cluster.applyOne(
    ours(
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'cert-manager:leaderelection', namespace: 'kube-system' },
        rules: [
          {
            apiGroups: ['coordination.k8s.io'],
            resources: ['leases'],
            resourceNames: ['cert-manager-controller'],
            verbs: ['get', 'update', 'patch'],
          },
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        ],
      },
      'cert-manager',
    ),
  );
  // Made at run time by the installed components, never labelled.
  for (const ns of ['default', 'helloworld'])
    cluster.seed({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio-ca-root-cert', namespace: ns },
    });
  cluster.seed({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'cert-manager-controller', namespace: 'kube-system' },
  });
  // Someone else's.
  cluster.seed({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'kube-scheduler', namespace: 'kube-system' },
  });
  cluster.seed({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'app-settings', namespace: 'default' },
  });
  return cluster;
}

const ctxFor = (cluster: FakeCluster): RunContext =>
  ({ clients: [cluster.asClient()] }) as unknown as RunContext;

test('the CSI driver is deleted only after every pod mounting it is gone', async () => {
  const cluster = await installedCluster();
  assert.ok(podsMountingDriver(cluster.pods(), 'csi.spiffe.io').length > 0);
  const [outcome] = await runCleanup(ctxFor(cluster));
  assert.ok(outcome?.ok, outcome?.error);
  const driverDeleted = cluster.events.indexOf('delete CSIDriver/csi.spiffe.io');
  const podGone = cluster.events.findIndex((e) =>
    e.startsWith('gone Pod/istio-system/istio-eastwestgateway'),
  );
  assert.ok(podGone >= 0 && driverDeleted > podGone, cluster.events.join('\n'));
});

test('a foreign pod mounting the CSI driver stops cleanup before SPIRE goes, naming the pod', async () => {
  const cluster = new FakeCluster('cluster-1', 200);
  await cluster.applyOne(
    ours(
      { apiVersion: 'storage.k8s.io/v1', kind: 'CSIDriver', metadata: { name: 'csi.spiffe.io' } },
      'spire',
    ),
  );
  cluster.seed({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'their-app', namespace: 'apps' },
    spec: { volumes: [csiVolume] },
  });
  const [outcome] = await runCleanup(ctxFor(cluster));
  assert.equal(outcome?.ok, false);
  assert.match(outcome?.error ?? '', /apps\/their-app/);
  assert.ok(
    await cluster.read({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'CSIDriver',
      metadata: { name: 'csi.spiffe.io' },
    }),
  );
});

test("cleanup removes istiod's root-cert ConfigMaps and cert-manager's Leases, and nothing foreign", async () => {
  const cluster = await installedCluster();
  const [outcome] = await runCleanup(ctxFor(cluster));
  assert.ok(outcome?.ok, outcome?.error);
  assert.deepEqual(
    await cluster.list('v1', 'ConfigMap', { fieldSelector: 'metadata.name=istio-ca-root-cert' }),
    [],
  );
  assert.deepEqual(
    (await cluster.list('coordination.k8s.io/v1', 'Lease')).map((l) => l.metadata.name),
    ['kube-scheduler'],
  );
  assert.ok(
    await cluster.read({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'app-settings', namespace: 'default' },
    }),
  );
  // The root certs go after istiod stopped: it would write them again.
  const istiodGone = cluster.events.findIndex((e) => e.startsWith('gone Pod/istio-system/istiod'));
  const certDeleted = cluster.events.indexOf('delete ConfigMap/default/istio-ca-root-cert');
  assert.ok(istiodGone >= 0 && certDeleted > istiodGone, cluster.events.join('\n'));
});

test('leader-election Leases are read from the Roles that grant them by name', () => {
  assert.deepEqual(
    leasesNamedByRoles([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'cert-manager-cainjector:leaderelection', namespace: 'kube-system' },
        rules: [
          {
            apiGroups: ['coordination.k8s.io'],
            resources: ['leases'],
            resourceNames: [
              'cert-manager-cainjector-leader-election',
              'cert-manager-cainjector-leader-election-core',
            ],
            verbs: ['get', 'update', 'patch'],
          },
          {
            apiGroups: [''],
            resources: ['configmaps'],
            resourceNames: ['not-a-lease'],
            verbs: ['get'],
          },
        ],
      },
    ]),
    [
      { namespace: 'kube-system', name: 'cert-manager-cainjector-leader-election' },
      { namespace: 'kube-system', name: 'cert-manager-cainjector-leader-election-core' },
    ],
  );
});

test('cleanup finds ours among every kind the cluster serves, leaves foreign ones, and lets owners take what they own', async () => {
  const cluster = await installedCluster();
  // In a namespace the action does not own, so only the label decides.
  const telemetry = (name: string): K8sObject => ({
    apiVersion: 'telemetry.istio.io/v1',
    kind: 'Telemetry',
    metadata: { name, namespace: 'default' },
  });
  // A kind no table in the action names: what a newer istioctl might generate.
  await cluster.applyOne(ours(telemetry('mesh-default'), 'istio'));
  cluster.seed(telemetry('theirs'));
  cluster.seed({
    ...ours(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'made-by-a-controller' } },
      'istio',
    ),
    metadata: {
      name: 'made-by-a-controller',
      namespace: 'default',
      labels: {
        'app.kubernetes.io/managed-by': 'mesh-federation',
        'mesh-federation.io/phase': 'istio',
      },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Foo', name: 'x', uid: '1' }],
    },
  });
  const [outcome] = await runCleanup(ctxFor(cluster));
  assert.ok(outcome?.ok, outcome?.error);
  const left = (await cluster.list('telemetry.istio.io/v1', 'Telemetry')).map(
    (t) => t.metadata.name,
  );
  assert.deepEqual(left, ['theirs']);
  assert.ok(
    !cluster.events.includes('delete ConfigMap/default/made-by-a-controller'),
    'an owned object is its owner’s to delete',
  );
});

test('cleanup returns once the CRDs it deleted are gone, not while they are still terminating', async () => {
  const cluster = new FakeCluster();
  cluster.podTerminationMs = 60;
  const crd = ours(
    {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'certificates.cert-manager.io' },
    },
    'cert-manager',
  );
  await cluster.applyOne(crd);
  const [outcome] = await runCleanup(ctxFor(cluster));
  assert.ok(outcome?.ok, outcome?.error);
  assert.equal(await cluster.read(crd), null, 'the CRD is gone when cleanup returns');
  assert.ok(cluster.events.includes('gone CustomResourceDefinition/certificates.cert-manager.io'));
});
