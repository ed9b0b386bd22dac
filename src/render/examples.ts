// examples phase (seed: examples/deploy-helloworld.sh, deploy-bookinfo.sh):
// helloworld v<K> in cluster K behind one Service name, a sleep client
// everywhere, and Bookinfo where the topology puts it (the second cluster).
import type { ClusterConfig, Config } from '../config/config.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { EXAMPLES } from '../model/names.ts';
import { federationAnnotations } from './federation.ts';
import { curlImage, exampleImage, BOOKINFO_TAG, HELLOWORLD_TAG } from './images.ts';
import { SIDECAR_TEMPLATES } from './istio.ts';
import { labelObject } from './labels.ts';
import { renderTemplate } from './template.ts';
import { helloworldVersion, runsBookinfo } from '../model/topology.ts';

/** Versions with an upstream image of their own; later ones run v1's image under their name. */
const HELLOWORLD_IMAGE_VERSIONS = ['v1', 'v2'];
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
  const ownImage = HELLOWORLD_IMAGE_VERSIONS.includes(version);
  const deployment = renderTemplate('examples/helloworld-deployment.yaml', {
    namespace: ns,
    version,
    port,
    image: exampleImage(config, `examples-helloworld-${ownImage ? version : 'v1'}`, HELLOWORLD_TAG),
    podAnnotations,
  });
  return [...docs, ...(ownImage ? deployment : deployment.map(answeringAs(version)))];
}

/** helloworld answers with $SERVICE_VERSION, which each upstream image bakes in as its own. */
function answeringAs(version: string): (doc: unknown) => unknown {
  return (doc) => {
    const d = structuredClone(doc) as {
      spec: { template: { spec: { containers: { env?: { name: string; value: string }[] }[] } } };
    };
    for (const c of d.spec.template.spec.containers)
      c.env = [...(c.env ?? []), { name: 'SERVICE_VERSION', value: version }];
    return d;
  };
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
    ...(runsBookinfo(config, cluster)
      ? [...namespace(EXAMPLES.bookinfo.namespace), ...bookinfo(config, podAnnotations)]
      : []),
  ] as K8sObject[];
  return objects.map((o) => labelObject(o, 'examples'));
}

/** Gateway + VirtualService of the north-south check, applied on the last cluster by `verify`. */
export function renderIngress(): K8sObject[] {
  const { namespace: ns, service, port, path } = EXAMPLES.helloworld;
  const objects = renderTemplate('examples/ingress.yaml', {
    namespace: ns,
    service,
    port,
    path,
  }) as K8sObject[];
  return objects.map((o) => labelObject(o, 'verify'));
}
