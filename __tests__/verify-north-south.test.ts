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
import { parseInputs } from '../src/inputs.ts';
import type { RunContext } from '../src/phases/types.ts';
import type { K8sObject } from '../src/k8s-object.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';

let server: http.Server;
let port = 0;
let notYetRouted = 0;

before(async () => {
  server = http.createServer((_req, res) => {
    if (notYetRouted > 0) {
      notYetRouted--;
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200).end('Hello version: v2, instance: helloworld-v2-7f4c9d-x2p\n');
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

async function mesh(): Promise<{ ctx: RunContext; outputs: Record<string, string> }> {
  const { config } = parseInputs(
    (name) =>
      ({ phase: 'verify', 'service-type': 'NodePort', requests: '5', timeout: '20s' })[name] ?? '',
  );
  const [one, two] = [new FakeCluster('cluster-1', 20_000), new FakeCluster('cluster-2', 20_000)];
  for (const c of [one, two]) {
    c.seed({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node' },
      status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] },
    });
  }
  await one.applyOne(deployment('sleep', 'sleep', { app: 'sleep' }));
  await one.applyOne(
    deployment('helloworld-v1', 'helloworld', { app: 'helloworld', version: 'v1' }),
  );
  two.seed({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'istio-ingressgateway', namespace: 'istio-system' },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: port }] },
  });
  const outputs: Record<string, string> = {};
  const ctx = {
    config,
    verifyChecks: ['north-south'],
    clients: [one.asClient(), two.asClient()],
    facts: {},
    setOutput: (name: string, value: string) => (outputs[name] = value),
  } as unknown as RunContext;
  return { ctx, outputs };
}

test('north-south waits for the route, then every counted answer is from v2', async () => {
  notYetRouted = 3;
  const { ctx, outputs } = await mesh();
  const { checks } = await runVerify(ctx);
  const northSouth = checks.find((c) => c.name === 'north-south traffic');
  assert.ok(northSouth?.ok, northSouth?.reason);
  assert.equal(notYetRouted, 0, 'the warm-up saw the 404s');
  assert.equal(outputs['gateway-url'], `http://127.0.0.1:${port}`);
});
