// The diagnostics folder from gathered evidence: readable (what failed, why a
// pod is not ready, events, logs, SPIRE, chains) and never holding a secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderDiagnostics, redact } from '../src/report/diagnostics.ts';
import { gatherDiagnostics } from '../src/phases/diagnose.ts';
import { parseInputs } from '../src/config/inputs.ts';
import type { RunContext } from '../src/phases/types.ts';
import type { Istioctl } from '../src/cluster/istioctl.ts';
import type { ClusterDiagnostics } from '../src/model/diagnostics.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';
import { makeRoot } from './verify-fixtures.ts';

const TOKEN = 'sekrit-kubeconfig-token-0123456789';
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJlLWJ5dGVz';
const KEY =
  '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5VdLfGmzW8g2P\n-----END EC PRIVATE KEY-----';

function cluster(): ClusterDiagnostics {
  return {
    cluster: 'cluster-1',
    failing: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'istiod', namespace: 'istio-system', managedFields: [{ manager: 'x' }] },
        spec: { replicas: 1 },
        status: { readyReplicas: 0 },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'cacerts', namespace: 'istio-system' },
        data: { 'tls.key': Buffer.from(KEY).toString('base64') },
      },
    ],
    pods: [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'istiod-1', namespace: 'istio-system' },
        spec: { nodeName: 'node-1', containers: [{ name: 'discovery' }] },
        status: {
          phase: 'Running',
          conditions: [{ type: 'Ready', status: 'False', reason: 'ContainersNotReady' }],
          containerStatuses: [
            {
              name: 'discovery',
              ready: false,
              restartCount: 4,
              image: 'docker.io/istio/pilot:1.22.1',
              state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } },
              lastState: { terminated: { reason: 'Error', exitCode: 1 } },
            },
          ],
        },
      },
    ],
    events: [
      {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'e1', namespace: 'istio-system' },
        type: 'Warning',
        reason: 'BackOff',
        message: 'Back-off restarting failed container discovery',
        count: 7,
        lastTimestamp: '2026-12-03T03:00:00Z',
        involvedObject: { kind: 'Pod', namespace: 'istio-system', name: 'istiod-1' },
      },
    ],
    logs: [
      {
        namespace: 'istio-system',
        pod: 'istiod-1',
        container: 'discovery',
        text: `error failed to load cacerts\nauth header Bearer ${JWT}\nkubeconfig token ${TOKEN}\n${KEY}\n`,
      },
    ],
    spireEntries: 'Entry ID : 1\nSPIFFE ID : spiffe://foo.com/ns/sleep/sa/sleep\n',
    spireBundles: '{"keys": []}',
    errors: ['log of spire/spire-agent-x (spire-agent): HTTP 404'],
  };
}

test('the folder says what failed and why, per cluster, and holds no key, token or masked string', async () => {
  const root = await makeRoot('mesh root', {}, false);
  const files = renderDiagnostics({
    clusters: [cluster()],
    chains: [
      {
        cluster: 'cluster-1',
        workload: 'sleep/sleep-1',
        ok: false,
        rows: [],
        checks: [],
        chainPem: `${root.pem}\n${KEY}\n`,
      },
    ],
    failures: [
      {
        title: 'verify · readiness · cluster-1',
        message: 'istiod is not ready',
        short: 'verify/readiness@cluster-1: istiod is not ready',
      },
    ],
    secrets: [TOKEN],
  });
  const byPath = new Map(files.map((f) => [f.path, f.content]));
  assert.deepEqual([...byPath.keys()].sort(), [
    'README.md',
    'cluster-1/chains/sleep.sleep-1.pem',
    'cluster-1/events.txt',
    'cluster-1/failing-objects.yaml',
    'cluster-1/logs/istio-system.istiod-1.discovery.log',
    'cluster-1/pods-not-ready.txt',
    'cluster-1/spire-bundles.txt',
    'cluster-1/spire-entries.txt',
  ]);
  assert.match(
    byPath.get('README.md') ?? '',
    /verify · readiness · cluster-1: istiod is not ready/,
  );
  assert.match(byPath.get('README.md') ?? '', /not read: log of spire\/spire-agent-x/);
  assert.match(
    byPath.get('cluster-1/pods-not-ready.txt') ?? '',
    /container discovery: not ready, waiting CrashLoopBackOff back-off 40s, restarts 4, last terminated Error exit 1/,
  );
  assert.match(
    byPath.get('cluster-1/pods-not-ready.txt') ?? '',
    /Warning BackOff Pod\/istio-system\/istiod-1: Back-off .*\(×7\)/,
  );
  assert.match(
    byPath.get('cluster-1/chains/sleep.sleep-1.pem') ?? '',
    /^-----BEGIN CERTIFICATE-----/,
  );
  const failing = byPath.get('cluster-1/failing-objects.yaml') ?? '';
  assert.match(failing, /name: istiod/);
  assert.doesNotMatch(failing, /managedFields|tls\.key/);
  const all = files.map((f) => f.content).join('\n');
  for (const secret of [TOKEN, JWT, 'PRIVATE KEY', Buffer.from(KEY).toString('base64')])
    assert.ok(!all.includes(secret), `${secret.slice(0, 20)}… is in the folder`);
});

test('redact cuts the longest masked string first and leaves short strings alone', () => {
  assert.equal(redact('a secret-one-two b', ['secret-one', 'secret-one-two', 'ab']), 'a *** b');
});

test('gathering reads what it can and records what it cannot, never failing', async () => {
  const config = parseInputs((name) => ({ phase: 'plan' })[name] ?? '');
  const fake = new FakeCluster('cluster-1', 500, config.clusters[0]);
  await fake.applyOne({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'istiod',
      namespace: 'istio-system',
      labels: { 'app.kubernetes.io/managed-by': 'mesh-federation', app: 'istiod' },
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'istiod' } },
      template: {
        metadata: { labels: { app: 'istiod' } },
        spec: { containers: [{ name: 'discovery', image: 'pilot' }] },
      },
    },
  });
  const ctx = { config, clients: [fake], istioctl: {} as Istioctl } as unknown as RunContext;
  const [found] = await gatherDiagnostics(ctx);
  assert.equal(found?.cluster, 'cluster-1');
  assert.ok(found?.logs.some((l) => l.pod.startsWith('istiod') && l.container === 'discovery'));
  assert.equal(found?.spireEntries, undefined, 'no SPIRE server pod: nothing asked');
});
