// istio phase (seed: istio/install-istio.sh): per cluster, the IstioOperator
// documents `istioctl manifest generate` turns into the control plane and the
// east-west gateway, plus the few mesh objects applied next to them.
import semver from 'semver';
import YAML from 'yaml';
import type { ClusterConfig, Config } from '../config/config.ts';
import { ISTIO_NATIVE_SIDECARS } from '../config/profiles.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { ISTIO_NAMESPACE, ISTIO_READER, SPIRE_NAMESPACE, SPIRE_SERVER } from '../model/names.ts';
import { istioSystemNamespace } from './cert-manager.ts';
import { bundleEndpointUrl, federationAnnotations, type RenderFacts } from './federation.ts';
import { mergePatch, type OverlaySpec } from './istio-overlay.ts';
import { labelObject } from './labels.ts';
import { SPIRE_PATHS } from './spire-config.ts';
import { renderTemplate, type TemplateValue } from './template.ts';

/** Injection templates (comma list) of pods that run istio-proxy as a sidecar. */
export const SIDECAR_TEMPLATES = 'sidecar,spire';
/** Injection templates of the gateways, whose istio-proxy is the main container. */
export const GATEWAY_TEMPLATES = 'gateway,spire-gateway';
/** metadata.name of the east-west gateway's IstioOperator (manifests/istio/eastwest-operator.yaml). */
export const EASTWEST_OPERATOR = 'eastwest';

export function usesNativeSidecars(istioVersion: string): boolean {
  const version = semver.coerce(istioVersion);
  if (!version) throw new Error(`not an Istio version: ${istioVersion}`);
  return semver.gte(version, ISTIO_NATIVE_SIDECARS);
}

interface PodPatch {
  spec: { containers?: unknown[]; initContainers?: unknown[]; volumes: unknown[] };
}

/** The `spire` (sidecars) or `spire-gateway` injection template, as the YAML text Istio expects. */
export function spireInjectionTemplate(initContainers: boolean): string {
  const [patch] = renderTemplate('istio/spire-injection.yaml', {
    workloadSocketDir: SPIRE_PATHS.workloadSocketDir,
  }) as PodPatch[];
  const { containers, ...rest } = (patch as PodPatch).spec;
  const spec = initContainers ? { initContainers: containers, ...rest } : { containers, ...rest };
  return YAML.stringify({ spec });
}

/**
 * Istio's meshNetworks: each network's endpoints (from its cluster's registry)
 * and the address its east-west gateway is reached at. Only known, and only
 * needed, when the gateways are NodePorts.
 */
export function meshNetworks(
  config: Config,
  facts: RenderFacts | undefined,
): Record<string, TemplateValue> {
  const gateways = facts?.eastWestGateways;
  if (!gateways) return {};
  return Object.fromEntries(
    config.clusters.flatMap((c) => {
      const gateway = gateways[c.name];
      return gateway
        ? [
            [
              c.network,
              {
                endpoints: [{ fromRegistry: c.name }],
                gateways: [{ address: gateway.host, port: gateway.port }],
              },
            ],
          ]
        : [];
    }),
  );
}

/**
 * meshConfig.caCertificates as the Istio SPIRE federation guides write it: per
 * trust domain its bundle endpoint (in-cluster for the cluster's own) and the
 * domain it anchors.
 */
export function meshTrustAnchors(
  config: Config,
  cluster: ClusterConfig,
  facts: RenderFacts | undefined,
): { spiffeBundleUrl: string; trustDomains: string[] }[] {
  const inCluster = `https://${SPIRE_SERVER.bundleService}.${SPIRE_NAMESPACE}.svc:${SPIRE_SERVER.bundlePort}`;
  return config.clusters.map((c) => ({
    spiffeBundleUrl: c.index === cluster.index ? inCluster : bundleEndpointUrl(c, facts),
    trustDomains: [c.trustDomain],
  }));
}

/** The control plane's IstioOperator with the user's overlay merged into its spec. */
function withOverlay(operator: K8sObject, overlay: OverlaySpec | null): K8sObject {
  if (!overlay) return operator;
  return { ...operator, spec: mergePatch(operator.spec as TemplateValue, overlay) } as K8sObject;
}

export function renderIstioOperators(
  config: Config,
  cluster: ClusterConfig,
  facts?: RenderFacts,
): K8sObject[] {
  const native = usesNativeSidecars(config.versions.istio);
  const shared = {
    namespace: ISTIO_NAMESPACE,
    hub: config.images.istioHub,
    tag: config.versions.istio,
    meshId: config.meshId,
    clusterName: cluster.name,
    network: cluster.network,
    serviceType: config.serviceType,
    gatewayInjectionTemplates: GATEWAY_TEMPLATES,
    gatewayPodAnnotations: federationAnnotations(config, cluster),
  };
  const main = renderTemplate('istio/istio-operator.yaml', {
    ...shared,
    trustDomain: cluster.trustDomain,
    caCertificates: meshTrustAnchors(config, cluster, facts),
    meshNetworks: meshNetworks(config, facts),
    // Istio 1.27+ decides per node ("auto"); pinning it makes the `spire`
    // template's initContainers patch match what the injector does.
    pilotEnv: native ? { ENABLE_NATIVE_SIDECARS: 'true' } : {},
    spireTemplate: spireInjectionTemplate(native),
    spireGatewayTemplate: spireInjectionTemplate(false),
  });
  const eastWest = renderTemplate('istio/eastwest-operator.yaml', shared);
  return [
    ...main.map((o) => withOverlay(o as K8sObject, config.istioOverlay)),
    ...eastWest,
  ] as K8sObject[];
}

export function renderIstio(cluster: ClusterConfig): K8sObject[] {
  const mesh = renderTemplate('istio/mesh.yaml', {
    namespace: ISTIO_NAMESPACE,
    readerServiceAccount: ISTIO_READER.serviceAccount,
    readerTokenSecret: ISTIO_READER.tokenSecret,
  }) as K8sObject[];
  // The same Namespace object as the cert-manager phase renders (network label
  // and phase label included): two different applies of one object by one
  // field manager would undo each other on every run.
  return [
    istioSystemNamespace(cluster, 'cert-manager'),
    ...mesh.map((o) => labelObject(o, 'istio')),
  ];
}
