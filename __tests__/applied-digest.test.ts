// When may an apply be skipped? Only when the live object holds the very body
// we would send; every other case must send it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import {
  APPLIED_DIGEST_ANNOTATION,
  holdsApplied,
  withAppliedDigest,
} from '../src/cluster/applied-digest.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';

const rendered = YAML.parse(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
  namespace: istio-system
  creationTimestamp: null
  labels: {app: istiod, app.kubernetes.io/managed-by: mesh-federation}
spec:
  replicas: 1
  selector: {matchLabels: {app: istiod}}
  template:
    metadata: {labels: {app: istiod}}
    spec:
      containers:
        - name: discovery
          image: docker.io/istio/pilot:1.22.1
          args: [discovery, --monitoringAddr=:15014]
          env: [{name: PILOT_ENABLE_ALPN_FILTER, value: "false"}]
status: {}
`) as K8sObject;

/** What the API server hands back after applying `body`: defaults and bookkeeping added. */
function liveAfterApply(body: K8sObject): K8sObject {
  const live = structuredClone(body) as K8sObject & { spec: Record<string, unknown> };
  live.metadata = {
    ...live.metadata,
    uid: '5f0e',
    resourceVersion: '812',
    generation: 1,
    creationTimestamp: '2026-12-03T14:00:00Z',
    managedFields: [{ manager: 'mesh-federation', operation: 'Apply' }],
  };
  live.spec.strategy = { type: 'RollingUpdate' };
  live.spec.revisionHistoryLimit = 10;
  const container = (live.spec.template as { spec: { containers: Record<string, unknown>[] } }).spec
    .containers[0] as Record<string, unknown>;
  container.imagePullPolicy = 'IfNotPresent';
  container.terminationMessagePath = '/dev/termination-log';
  live.status = { replicas: 1, readyReplicas: 1 };
  return live;
}

test('an object applied before and left alone is held: nothing to send', () => {
  const body = withAppliedDigest(rendered);
  assert.equal(body.metadata.creationTimestamp, undefined, 'nulls are never sent');
  assert.match(body.metadata.annotations?.[APPLIED_DIGEST_ANNOTATION] ?? '', /^[0-9a-f]{64}$/);
  assert.equal(holdsApplied(liveAfterApply(body), withAppliedDigest(rendered)), true);
});

test('the digest does not depend on key order', () => {
  const reordered = YAML.parse(YAML.stringify(rendered, { sortMapEntries: true })) as K8sObject;
  assert.equal(
    withAppliedDigest(reordered).metadata.annotations?.[APPLIED_DIGEST_ANNOTATION],
    withAppliedDigest(rendered).metadata.annotations?.[APPLIED_DIGEST_ANNOTATION],
  );
});

test('a field we stopped sending is sent (apply removes it), although the live object holds the rest', () => {
  const live = liveAfterApply(withAppliedDigest(rendered));
  const fewer = structuredClone(rendered) as K8sObject & { spec: { replicas?: number } };
  delete fewer.spec.replicas;
  assert.equal(holdsApplied(live, withAppliedDigest(fewer)), false);
});

test('a field someone else changed, or a list item they added, is put right', () => {
  const body = withAppliedDigest(rendered);
  const edited = liveAfterApply(body) as K8sObject & {
    spec: { template: { spec: { containers: { image: string; env: unknown[] }[] } } };
  };
  edited.spec.template.spec.containers[0]!.image = 'docker.io/istio/pilot:1.22.0';
  assert.equal(holdsApplied(edited, body), false);
  const added = liveAfterApply(body) as typeof edited;
  added.spec.template.spec.containers[0]!.env.push({ name: 'EXTRA', value: '1' });
  assert.equal(holdsApplied(added, body), false);
});

test('a live object without our digest (applied by an older version, or by hand) is sent', () => {
  const live = liveAfterApply(rendered);
  assert.equal(holdsApplied(live, withAppliedDigest(rendered)), false);
});

test('a Secret sent as stringData is held as base64 data', () => {
  const secret = YAML.parse(`
apiVersion: v1
kind: Secret
metadata: {name: istio-remote-secret-cluster-2, namespace: istio-system}
stringData: {cluster-2: "apiVersion: v1\\nkind: Config\\n"}
`) as K8sObject;
  const body = withAppliedDigest(secret);
  const { stringData, ...rest } = structuredClone(body);
  const data = Object.fromEntries(
    Object.entries(stringData as Record<string, string>).map(([k, v]) => [
      k,
      Buffer.from(v).toString('base64'),
    ]),
  );
  const live = { ...rest, type: 'Opaque', data } as K8sObject;
  assert.equal(holdsApplied(live, body), true);
  const rotated = { ...live, data: { 'cluster-2': Buffer.from('other').toString('base64') } };
  assert.equal(holdsApplied(rotated as K8sObject, body), false);
});

test('what the API server normalises still holds: quantities in canonical form, an empty env value dropped', () => {
  const body = withAppliedDigest(
    YAML.parse(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: istio-system}
spec:
  template:
    spec:
      containers:
        - name: discovery
          env: [{name: REVISION, value: ""}, {name: PILOT_TRACE_SAMPLING, value: "1"}]
          resources: {requests: {cpu: "0.5", memory: 2048Mi}, limits: {ephemeral-storage: 1000M}}
`) as K8sObject,
  );
  const live = structuredClone(body) as K8sObject & {
    spec: { template: { spec: { containers: Record<string, unknown>[] } } };
  };
  const container = live.spec.template.spec.containers[0] as Record<string, unknown>;
  container.env = [{ name: 'REVISION' }, { name: 'PILOT_TRACE_SAMPLING', value: '1' }];
  container.resources = {
    requests: { cpu: '500m', memory: '2Gi' },
    limits: { 'ephemeral-storage': '1G' },
  };
  assert.equal(holdsApplied(live, body), true);
  container.resources = {
    requests: { cpu: '400m', memory: '2Gi' },
    limits: { 'ephemeral-storage': '1G' },
  };
  assert.equal(holdsApplied(live, body), false, 'another quantity');
  container.resources = {
    requests: { cpu: '500m', memory: '2Gi' },
    limits: { 'ephemeral-storage': '1G' },
  };
  container.env = [
    { name: 'REVISION', value: 'x' },
    { name: 'PILOT_TRACE_SAMPLING', value: '1' },
  ];
  assert.equal(holdsApplied(live, body), false, 'an env value set where we send an empty one');
});

test('a quantity-like string outside resources is compared as a string', () => {
  const body = withAppliedDigest(
    YAML.parse(
      `{apiVersion: v1, kind: ConfigMap, metadata: {name: c, labels: {size: 1k}}, data: {limit: 2048Mi}}`,
    ) as K8sObject,
  );
  const live = structuredClone(body);
  live.metadata.labels = { size: '1000' };
  assert.equal(holdsApplied(live, body), false);
  live.data = { limit: '2Gi' };
  live.metadata.labels = { size: '1k' };
  assert.equal(holdsApplied(live, body), false);
});
