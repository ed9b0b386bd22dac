// examples phase (seed: examples/deploy-helloworld.sh, deploy-bookinfo.sh):
// helloworld v1 in the first cluster and v2 in the second behind one Service
// name, a sleep client everywhere, and Bookinfo in the second cluster.
import type { ClusterConfig, Config } from '../config.ts';
import type { K8sObject } from '../k8s-object.ts';
import { EXAMPLES } from '../names.ts';
import { federationAnnotations } from './federation.ts';
import { curlImage, exampleImage, BOOKINFO_TAG, HELLOWORLD_TAG } from './images.ts';
import { SIDECAR_TEMPLATES } from './istio.ts';
import { labelObject } from './labels.ts';
import { renderTemplate } from './template.ts';

/** helloworld version served from each cluster, by position in `contexts`. */
const HELLOWORLD_VERSIONS: Record<number, string> = { 0: 'v1', 1: 'v2' };
/** Bookinfo runs where the seed ran it: the second cluster. */
const BOOKINFO_CLUSTER_INDEX = 1;
export const HELLOWORLD_SERVICE_ACCOUNT = 'helloworld';

/** Annotations every sample pod carries: the SPIRE socket, and federation for its SVID. */
export function injectedPodAnnotations(
  config: Config,
  cluster: ClusterConfig,
): Record<string, string> {
  return {
    'inject.istio.io/templates': SIDECAR_TEMPLATES,
    ...federationAnnotations(config, cluster),
  };
}

export function helloworldVersion(cluster: ClusterConfig): string | undefined {
  return HELLOWORLD_VERSIONS[cluster.index];
}

export function runsBookinfo(cluster: ClusterConfig): boolean {
  return cluster.index === BOOKINFO_CLUSTER_INDEX;
}

function namespace(name: string): unknown[] {
  return renderTemplate('examples/namespace.yaml', { name });
}

function helloworld(
  config: Config,
  cluster: ClusterConfig,
  podAnnotations: Record<string, string>,
): unknown[] {
  const { namespace: ns, service, port } = EXAMPLES.helloworld;
  const docs = renderTemplate('examples/helloworld.yaml', {
    namespace: ns,
    service,
    port,
    subjectAltNames: config.clusters.map(
      (c) => `spiffe://${c.trustDomain}/ns/${ns}/sa/${HELLOWORLD_SERVICE_ACCOUNT}`,
    ),
  });
  const version = helloworldVersion(cluster);
  if (version === undefined) return docs;
  return [
    ...docs,
    ...renderTemplate('examples/helloworld-deployment.yaml', {
      namespace: ns,
      version,
      port,
      image: exampleImage(config, `examples-helloworld-${version}`, HELLOWORLD_TAG),
      podAnnotations,
    }),
  ];
}

function sleep(config: Config, podAnnotations: Record<string, string>): unknown[] {
  const { namespace: ns, app, container } = EXAMPLES.sleep;
  return renderTemplate('examples/sleep.yaml', {
    namespace: ns,
    app,
    container,
    image: curlImage(config),
    podAnnotations,
  });
}

function bookinfo(config: Config, podAnnotations: Record<string, string>): unknown[] {
  const ns = EXAMPLES.bookinfo.namespace;
  const image = (name: string) => exampleImage(config, `examples-bookinfo-${name}`, BOOKINFO_TAG);
  return [
    ...renderTemplate('examples/bookinfo.yaml', {
      namespace: ns,
      podAnnotations,
      productpageDeployment: EXAMPLES.bookinfo.productpage,
      detailsImage: image('details-v1'),
      ratingsImage: image('ratings-v1'),
      productpageImage: image('productpage-v1'),
    }),
    ...['v1', 'v2', 'v3'].flatMap((version) =>
      renderTemplate('examples/bookinfo-reviews.yaml', {
        namespace: ns,
        version,
        podAnnotations,
        image: image(`reviews-${version}`),
      }),
    ),
  ];
}

export function renderExamples(config: Config, cluster: ClusterConfig): K8sObject[] {
  const podAnnotations = injectedPodAnnotations(config, cluster);
  const objects = [
    ...namespace(EXAMPLES.helloworld.namespace),
    ...namespace(EXAMPLES.sleep.namespace),
    ...helloworld(config, cluster, podAnnotations),
    ...sleep(config, podAnnotations),
    ...(runsBookinfo(cluster)
      ? [...namespace(EXAMPLES.bookinfo.namespace), ...bookinfo(config, podAnnotations)]
      : []),
  ] as K8sObject[];
  return objects.map((o) => labelObject(o, 'examples'));
}

/** Gateway + VirtualService of the north-south check, applied on the last cluster by `verify`. */
export function renderIngress(_config: Config, _cluster: ClusterConfig): K8sObject[] {
  const { namespace: ns, service, port, path } = EXAMPLES.helloworld;
  const objects = renderTemplate('examples/ingress.yaml', {
    namespace: ns,
    service,
    port,
    path,
  }) as K8sObject[];
  return objects.map((o) => labelObject(o, 'verify'));
}
