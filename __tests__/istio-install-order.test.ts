// Gateways must not be created before the sidecar injector answers: a gateway
// pod admitted without injection keeps `image: auto` and never starts (issue
// 7, item 1). Run against the in-memory cluster, whose ReplicaSet controller
// creates pods the moment a Deployment is stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { installControlPlaneThenGateways } from '../src/phases/istio.ts';
import {
  injectionProbePod,
  isUninjectedPod,
  splitByInjection,
} from '../src/render/istio-gateways.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';
import { labelObject } from '../src/render/labels.ts';
import { FakeCluster, INJECTED_PROXY_IMAGE } from './helpers/fake-cluster.ts';

// The shape istioctl manifest generate gives the objects that matter here.
const GENERATED = YAML.parseAllDocuments(
  `
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {matchLabels: {app: istio-ingressgateway, istio: ingressgateway}}
  template:
    metadata:
      labels: {app: istio-ingressgateway, istio: ingressgateway, sidecar.istio.io/inject: "true"}
      annotations: {inject.istio.io/templates: "gateway,spire-gateway"}
    spec:
      containers: [{name: istio-proxy, image: auto}]
---
apiVersion: v1
kind: Service
metadata: {name: istiod, namespace: istio-system}
spec: {ports: [{name: https-webhook, port: 443, targetPort: 15017}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: istio-system}
spec:
  selector: {matchLabels: {app: istiod}}
  template:
    metadata: {labels: {app: istiod}}
    spec:
      containers: [{name: discovery, image: docker.io/istio/pilot:1.22.1}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector}
webhooks:
  - name: object.sidecar-injector.istio.io
    clientConfig: {service: {name: istiod, namespace: istio-system, path: /inject}}
    sideEffects: None
    admissionReviewVersions: [v1]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-eastwestgateway, namespace: istio-system}
spec:
  selector: {matchLabels: {app: istio-eastwestgateway, istio: eastwestgateway}}
  template:
    metadata:
      labels: {app: istio-eastwestgateway, istio: eastwestgateway, sidecar.istio.io/inject: "true"}
      annotations: {inject.istio.io/templates: "gateway,spire-gateway"}
    spec:
      containers: [{name: istio-proxy, image: auto}]
`,
).map((d) => labelObject(d.toJS() as K8sObject, 'istio'));

const noLog = (): void => undefined;

test('gateways are split from the control plane by their image: auto', () => {
  const { controlPlane, gateways } = splitByInjection(GENERATED);
  assert.deepEqual(
    gateways.map((o) => o.metadata.name),
    ['istio-ingressgateway', 'istio-eastwestgateway'],
  );
  assert.equal(controlPlane.length, 3);
  const probe = injectionProbePod(gateways[0] as K8sObject);
  assert.equal(probe.kind, 'Pod');
  assert.equal(probe.metadata.labels?.['sidecar.istio.io/inject'], 'true');
  assert.ok(isUninjectedPod(probe));
});

test('no gateway pod is created before the injector answers, and every gateway becomes ready', async () => {
  const cluster = new FakeCluster();
  await installControlPlaneThenGateways(cluster.asClient(), GENERATED, [], noLog, []);
  const created = cluster.events.filter((e) => e.startsWith('create Pod/istio-system/istio-'));
  assert.equal(created.length, 2, cluster.events.join('\n'));
  for (const pod of cluster.pods())
    assert.ok(!isUninjectedPod(pod), `${pod.metadata.name} was admitted with image: auto`);
  const firstGateway = cluster.events.findIndex((e) =>
    e.startsWith('apply Deployment/istio-system/istio-'),
  );
  const webhook = cluster.events.indexOf(
    'apply MutatingWebhookConfiguration/istio-sidecar-injector',
  );
  const probed = cluster.events.findIndex((e) => e.startsWith('probe Pod/'));
  assert.ok(webhook >= 0 && probed > webhook && firstGateway > probed, cluster.events.join('\n'));
  for (const name of ['istio-ingressgateway', 'istio-eastwestgateway']) {
    const d = await cluster.read({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: 'istio-system' },
    });
    assert.equal((d?.status as { readyReplicas?: number }).readyReplicas, 1);
  }
});

test('a re-run replaces gateway pods that an earlier run created before the injector', async () => {
  const cluster = new FakeCluster();
  // The broken state: the gateway's Deployment and its uninjected pod exist, the injector does not.
  const gateway = GENERATED.find((o) => o.metadata.name === 'istio-ingressgateway') as K8sObject;
  await cluster.applyOne(gateway);
  assert.ok(cluster.pods().some(isUninjectedPod));
  await installControlPlaneThenGateways(cluster.asClient(), GENERATED, [], noLog, []);
  const live = cluster.pods().filter((p) => !p.metadata.deletionTimestamp);
  assert.ok(live.length >= 2);
  for (const pod of live)
    assert.ok(!isUninjectedPod(pod), `${pod.metadata.name} still names image: auto`);
  const gatewayPods = live.filter((p) => p.metadata.name.startsWith('istio-ingressgateway'));
  assert.equal(gatewayPods.length, 1);
  assert.ok(JSON.stringify(gatewayPods[0]?.spec).includes(INJECTED_PROXY_IMAGE));
});

test('an injector that never answers fails with the reason, not a hang', async () => {
  const cluster = new FakeCluster('cluster-1', 300);
  const withoutIstiod = GENERATED.filter(
    (o) => !(o.kind === 'Deployment' && o.metadata.name === 'istiod'),
  );
  await assert.rejects(
    installControlPlaneThenGateways(cluster.asClient(), withoutIstiod, [], noLog, []),
    /sidecar injector fills in the image.*failed calling webhook/,
  );
  assert.equal(cluster.pods().length, 0, 'no gateway pod may be created while the injector fails');
});
