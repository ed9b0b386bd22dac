// North-south counts only once the route is live (issue 7, item 8): istiod
// pushes a new Gateway to the ingress gateway a moment after it is applied,
// and answers before that (404s) say nothing about the mesh. The sleep pod's
// script runs for real (sh + curl) against a loopback server that plays the
// ingress gateway: 404 until the route "arrives", then helloworld v2.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runVerify } from '../src/phases/verify.ts';
import { parseInputs } from '../src/config/inputs.ts';
import type { RunContext } from '../src/phases/types.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';

let server: http.Server;
let port = 0;
let notYetRouted = 0;
let answering = 'v2';

before(async () => {
  server = http.createServer((_req, res) => {
    if (notYetRouted > 0) {
      notYetRouted--;
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200)
      .end(`Hello version: ${answering}, instance: helloworld-${answering}-7f4c9d-x2p\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => server.close());

function deployment(name: string, namespace: string, labels: Record<string, string>): K8sObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: name.split('-')[0], image: 'x' }] },
      },
    },
  };
}

async function mesh(count = 2): Promise<{
  ctx: RunContext;
  clusters: FakeCluster[];
}> {
  const contexts = Array.from({ length: count }, (_, i) => `cluster-${i + 1}`);
  const config = parseInputs(
    (name) =>
      ({
        phase: 'plan',
        contexts: contexts.join(','),
        'trust-domains': ['foo.com', 'bar.com', 'baz.org'].slice(0, count).join(','),
        'service-type': 'NodePort',
        requests: '5',
        timeout: '20s',
      })[name] ?? '',
  );
  const clusters = contexts.map((c) => new FakeCluster(c, 20_000));
  for (const [i, c] of clusters.entries()) {
    c.seed({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node' },
      status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] },
    });
    const version = `v${i + 1}`;
    await c.applyOne(
      deployment(`helloworld-${version}`, 'helloworld', { app: 'helloworld', version }),
    );
  }
  const [first, last] = [clusters[0] as FakeCluster, clusters.at(-1) as FakeCluster];
  await first.applyOne(deployment('sleep', 'sleep', { app: 'sleep' }));
  last.seed({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'istio-ingressgateway', namespace: 'istio-system' },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: port }] },
  });
  const ctx = {
    config: { ...config, verifyChecks: ['north-south'] },
    clients: clusters.map((c) => c.asClient()),
  } as unknown as RunContext;
  return { ctx, clusters };
}

test('north-south waits for the route, then every counted answer is from v2', async () => {
  notYetRouted = 3;
  const { ctx } = await mesh();
  const { checks, evidence } = await runVerify(ctx);
  const northSouth = checks.find((c) => c.name === 'north-south traffic');
  assert.ok(northSouth?.ok, northSouth?.reason);
  assert.equal(notYetRouted, 0, 'the warm-up saw the 404s');
  assert.deepEqual(
    evidence.filter((e) => e.kind === 'gateway-url'),
    [{ kind: 'gateway-url', url: `http://127.0.0.1:${port}` }],
  );
});

test('with three clusters every helloworld but the ingress cluster’s is scaled away, then restored', async () => {
  notYetRouted = 0;
  answering = 'v3';
  const { ctx, clusters } = await mesh(3);
  const { checks } = await runVerify(ctx);
  const northSouth = checks.find((c) => c.name === 'north-south traffic');
  assert.ok(northSouth?.ok, northSouth?.reason);
  for (const [i, c] of clusters.entries()) {
    const d = await c.read({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `helloworld-v${i + 1}`, namespace: 'helloworld' },
    });
    assert.equal((d?.spec as { replicas: number }).replicas, 1, `helloworld-v${i + 1} restored`);
  }
  // v2 answering through the third cluster’s gateway means v2 was not scaled away.
  answering = 'v2';
  const again = await runVerify((await mesh(3)).ctx);
  const failedCheck = again.checks.find((c) => c.name === 'north-south traffic');
  assert.equal(failedCheck?.ok, false);
  assert.match(failedCheck?.reason ?? '', /expected only v3/);
  answering = 'v2';
});
