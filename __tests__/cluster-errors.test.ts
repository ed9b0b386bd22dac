import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeError, isTransient, networkCode } from '../src/cluster/errors.ts';
import { rolloutGap } from '../src/cluster/rollout.ts';
import { mergeOutcomes } from '../src/phases/merge.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';

const apiError = (code: number, message: string) =>
  Object.assign(new Error(`HTTP-Code: ${code}\nMessage: ...\nHeaders: {"authorization":"x"}`), {
    code,
    body: JSON.stringify({ kind: 'Status', message }),
  });

test('API errors become one line without headers', () => {
  assert.equal(
    describeError(apiError(403, 'namespaces is forbidden')),
    'HTTP 403: namespaces is forbidden',
  );
  const net = Object.assign(new TypeError('fetch failed'), {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
  });
  assert.equal(networkCode(net), 'ECONNREFUSED');
  assert.equal(describeError(net), 'network error ECONNREFUSED');
});

test('transient: network, throttling, server errors, a kind not yet discovered; not: forbidden, invalid', () => {
  assert.ok(isTransient(Object.assign(new Error('x'), { code: 'ECONNRESET' })));
  for (const code of [429, 500, 503, 504])
    assert.ok(isTransient(apiError(code, 'busy')), String(code));
  assert.ok(isTransient(apiError(404, 'the server could not find the requested resource')));
  assert.ok(!isTransient(apiError(404, 'deployments.apps "x" not found')));
  assert.ok(!isTransient(apiError(403, 'forbidden')));
  assert.ok(!isTransient(apiError(422, 'Invalid value')));
});

const deployment = (spec: number, status: Record<string, number>, generation = 2): K8sObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd', generation } as K8sObject['metadata'],
  spec: { replicas: spec },
  status: { observedGeneration: 2, ...status },
});

test('rollout: ready only when the controller saw the spec and every replica is updated and ready', () => {
  const full = { replicas: 2, readyReplicas: 2, updatedReplicas: 2, availableReplicas: 2 };
  assert.equal(rolloutGap(deployment(2, full)), null);
  assert.match(
    rolloutGap(deployment(2, { ...full, readyReplicas: 1 })) ?? '',
    /1\/2 replicas ready/,
  );
  assert.match(rolloutGap(deployment(2, full, 3)) ?? '', /not seen the latest spec/);
  const ds: K8sObject = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'a' },
    status: { desiredNumberScheduled: 3, numberReady: 3, updatedNumberScheduled: 2 },
  };
  assert.match(rolloutGap(ds) ?? '', /2\/3 pods updated/);
});

test('outcomes of several steps fold into one per cluster', () => {
  const merged = mergeOutcomes([
    [
      {
        cluster: 'a',
        ok: true,
        durationMs: 5,
        records: [{ ref: 'x', action: 'created' }],
        notes: ['n1'],
      },
    ],
    [
      { cluster: 'a', ok: false, durationMs: 7, records: [], notes: [], error: 'boom' },
      { cluster: 'b', ok: true, durationMs: 1, records: [], notes: [] },
    ],
  ]);
  assert.deepEqual(
    merged.map((o) => [o.cluster, o.ok, o.durationMs, o.records.length, o.error]),
    [
      ['a', false, 12, 1, 'boom'],
      ['b', true, 1, 0, undefined],
    ],
  );
});
