// Pure rules at the cluster edge (issue 7): what is never taken over (item 7),
// how an outside address is found and written (items 2 and 13), and the
// meshNetworks that NodePort clusters need (item 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { planApply } from '../src/cluster/ownership.ts';
import { externalAddress, nodeAddress } from '../src/cluster/service-address.ts';
import { formatHostPort, urlHost } from '../src/net-address.ts';
import { parseInputs } from '../src/config/inputs.ts';
import { renderPhase } from '../src/render/index.ts';
import { labelObject } from '../src/render/labels.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';

const inputs =
  (values: Record<string, string>) =>
  (name: string): string =>
    values[name] ?? '';

const crd = (labels?: Record<string, string>): K8sObject => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'certificates.cert-manager.io', ...(labels ? { labels } : {}) },
});

test('an object someone else created is refused, naming it, never applied over', () => {
  const plan = planApply(
    crd({ 'app.kubernetes.io/managed-by': 'Helm' }),
    labelObject(crd(), 'cert-manager'),
  );
  assert.ok('refuse' in plan);
  assert.match(
    plan.refuse,
    /CustomResourceDefinition\/certificates\.cert-manager\.io already exists and was not created by mesh-federation/,
  );
});

test('our own objects and new ones are applied as rendered', () => {
  const rendered = labelObject(crd(), 'cert-manager');
  assert.deepEqual(planApply(null, rendered), { body: rendered, foreign: false });
  assert.deepEqual(planApply(rendered, rendered), { body: rendered, foreign: false });
});

test('a foreign Namespace is shared: our other labels are added, the ownership labels are not', () => {
  const ns: K8sObject = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'istio-system', labels: { 'topology.istio.io/network': 'network-1' } },
  };
  const plan = planApply(
    { ...ns, metadata: { name: 'istio-system' } },
    labelObject(ns, 'cert-manager'),
  );
  assert.ok('body' in plan && plan.foreign);
  assert.deepEqual(plan.body.metadata.labels, { 'topology.istio.io/network': 'network-1' });
});

test('IPv6 literals are bracketed once in URLs', () => {
  assert.equal(urlHost('2001:db8::7'), '[2001:db8::7]');
  assert.equal(urlHost('[2001:db8::7]'), '[2001:db8::7]');
  assert.equal(urlHost('203.0.113.7'), '203.0.113.7');
  assert.equal(formatHostPort({ host: 'fd00::1', port: 31443 }), '[fd00::1]:31443');
  assert.equal(new URL(`http://${formatHostPort({ host: 'fd00::1', port: 80 })}/hello`).port, '');
});

test('an outside address is the LoadBalancer ingress, or a node address and the node port', () => {
  const service: K8sObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'istio-eastwestgateway', namespace: 'istio-system' },
    spec: {
      ports: [
        { port: 15021, nodePort: 30021 },
        { port: 15443, nodePort: 31443 },
      ],
    },
    status: { loadBalancer: { ingress: [{ hostname: 'lb.example.net' }] } },
  };
  const nodes: K8sObject[] = [
    {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'kind-control-plane' },
      status: {
        addresses: [
          { type: 'Hostname', address: 'kind' },
          { type: 'InternalIP', address: '172.18.0.3' },
        ],
      },
    },
  ];
  assert.deepEqual(externalAddress(service, 15443, 'LoadBalancer', []), {
    host: 'lb.example.net',
    port: 15443,
  });
  assert.deepEqual(externalAddress(service, 15443, 'NodePort', nodes), {
    host: '172.18.0.3',
    port: 31443,
  });
  assert.equal(externalAddress(service, 8443, 'NodePort', nodes), undefined);
  assert.equal(nodeAddress([]), undefined);
});

test('with NodePort gateways the control plane lists every network’s east-west gateway in meshNetworks', () => {
  const config = parseInputs(inputs({ phase: 'plan', 'service-type': 'NodePort' }));
  const facts = {
    eastWestGateways: {
      'cluster-1': { host: '172.18.0.2', port: 31001 },
      'cluster-2': { host: '172.18.0.3', port: 31002 },
    },
  };
  const cluster = config.clusters[0]!;
  const operator = renderPhase(config, 'istio', cluster, facts).istioOperators.find(
    (o) => o.metadata.name !== 'eastwest',
  ) as K8sObject & { spec: { values: { global: { meshNetworks: unknown } } } };
  const networks = operator.spec.values.global.meshNetworks as Record<
    string,
    { endpoints: unknown; gateways: unknown }
  >;
  assert.deepEqual(
    Object.values(networks).map((n) => [n.endpoints, n.gateways]),
    [
      [[{ fromRegistry: config.clusters[0]!.name }], [{ address: '172.18.0.2', port: 31001 }]],
      [[{ fromRegistry: config.clusters[1]!.name }], [{ address: '172.18.0.3', port: 31002 }]],
    ],
  );
  assert.deepEqual(
    Object.keys(networks),
    config.clusters.map((c) => c.network),
  );
  // LoadBalancer clusters (and plan, which knows no addresses) leave discovery to istiod.
  const lb = renderPhase(parseInputs(inputs({ phase: 'plan' })), 'istio', cluster)
    .istioOperators[0];
  assert.match(YAML.stringify(lb), /meshNetworks: \{\}/);
});
