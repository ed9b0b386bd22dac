// Where each sample runs, for the seed's two clusters and for more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/config/inputs.ts';
import { topology } from '../src/model/topology.ts';
import { renderExamples } from '../src/render/examples.ts';
import type { ClusterConfig } from '../src/config/config.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';

const configFor = (contexts: string, trustDomains: string) =>
  parseInputs((name) => ({ phase: 'plan', contexts, 'trust-domains': trustDomains })[name] ?? '', {
    RUNNER_TEMP: '/tmp/rt',
  });

const two = configFor('c1,c2', 'foo.com,bar.com');
const three = configFor('c1,c2,c3', 'foo.com,bar.com,baz.org');

interface Container {
  image: string;
  env?: { name: string; value: string }[];
}
const helloworlds = (objects: K8sObject[]) =>
  objects
    .filter((o) => o.kind === 'Deployment' && o.metadata.name.startsWith('helloworld-'))
    .map((o) => {
      const c = (o.spec as { template: { spec: { containers: Container[] } } }).template.spec
        .containers[0] as Container;
      return { name: o.metadata.name, image: c.image, env: c.env };
    });

test('two clusters are the seed: v1 on the first, v2 and Bookinfo on the second, ingress on the last', () => {
  const t = topology(two);
  assert.deepEqual(
    t.helloworld.map((h) => [h.cluster.context, h.version]),
    [
      ['c1', 'v1'],
      ['c2', 'v2'],
    ],
  );
  assert.equal(t.bookinfo.context, 'c2');
  assert.equal(t.trafficClient.context, 'c1');
  assert.equal(t.ingress.context, 'c2');
  assert.deepEqual(
    t.chainTargets.map((c) => [c.cluster.context, c.namespace, c.selector]),
    [
      ['c1', 'sleep', 'app=sleep'],
      ['c2', 'bookinfo', 'app=productpage'],
    ],
  );
  // The seed's images, with nothing added: an upgraded action changes no seed Deployment.
  assert.deepEqual(
    two.clusters.flatMap((c) => helloworlds(renderExamples(two, c))),
    [
      {
        name: 'helloworld-v1',
        image: 'docker.io/istio/examples-helloworld-v1:1.0',
        env: undefined,
      },
      {
        name: 'helloworld-v2',
        image: 'docker.io/istio/examples-helloworld-v2:1.0',
        env: undefined,
      },
    ],
  );
});

test('with three clusters every cluster serves its own version and the ingress moves to the last', () => {
  const t = topology(three);
  assert.deepEqual(
    t.helloworld.map((h) => h.version),
    ['v1', 'v2', 'v3'],
  );
  assert.equal(t.ingress.context, 'c3');
  assert.equal(t.bookinfo.context, 'c2');
  const third = three.clusters[2] as ClusterConfig;
  // No upstream image answers v3: v1's image answers under v3's name.
  assert.deepEqual(helloworlds(renderExamples(three, third)), [
    {
      name: 'helloworld-v3',
      image: 'docker.io/istio/examples-helloworld-v1:1.0',
      env: [{ name: 'SERVICE_VERSION', value: 'v3' }],
    },
  ]);
  const bookinfoOn = three.clusters
    .filter((c) => renderExamples(three, c).some((o) => o.metadata.namespace === 'bookinfo'))
    .map((c) => c.context);
  assert.deepEqual(bookinfoOn, ['c2']);
});
