// spire phase (seed: spire/install-spire.sh): a SPIRE server per cluster,
// federated with every other cluster's, what registers its workloads (the
// seed's k8s-workload-registrar, or the SPIRE Controller Manager with its
// ClusterSPIFFEID and ClusterFederatedTrustDomains), and the agents with the
// SPIFFE CSI driver.
import { createHash } from 'node:crypto';
import type { ClusterConfig, Config } from '../config/config.ts';
import type { Registration } from '../config/profiles.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../model/names.ts';
import {
  otherClusters,
  bundleEndpointUrl,
  serverSpiffeId,
  type RenderFacts,
} from './federation.ts';
import { curlImage, spireImages } from './images.ts';
import { labelObject } from './labels.ts';
import {
  agentConf,
  CONTROLLER_MANAGER,
  controllerManagerConf,
  PSAT_AUDIENCE,
  registrarConf,
  serverConf,
  SPIRE_AGENT_SERVICE_ACCOUNT,
  SPIRE_BUNDLE_CONFIGMAP,
  SPIRE_PATHS,
  SPIRE_PORTS,
  SPIRE_SERVER_SERVICE_ACCOUNT,
} from './spire-config.ts';
import { renderTemplate } from './template.ts';

interface RegistrationDoc {
  registration: Registration;
  configMap: K8sObject;
  container: Record<string, unknown>;
}

/** The custom resources the controller manager reads; applied once it answers. */
export const SPIRE_IDENTITY_KINDS = new Set(['ClusterSPIFFEID', 'ClusterFederatedTrustDomain']);

/** Name of the ClusterFederatedTrustDomain of one peer. */
export const federatedTrustDomainName = (trustDomain: string): string =>
  `mesh-federation-${trustDomain.replace(/[^a-z0-9-]/g, '-')}`;

/** Stands in for a peer's bundle where it is not known yet (`plan`). */
export const bundlePlaceholder = (trustDomain: string): string =>
  `<bundle of ${trustDomain}, read from its server at run time>`;

/**
 * With the controller manager: one ClusterFederatedTrustDomain per peer (its bundle
 * endpoint, the SPIFFE ID that must answer there, the bundle to start from), then the
 * ClusterSPIFFEID federating every workload with every peer.
 */
function renderIdentities(config: Config, cluster: ClusterConfig, facts?: RenderFacts): unknown[] {
  const peers = otherClusters(config, cluster);
  const className = CONTROLLER_MANAGER.className;
  return [
    ...peers.flatMap((peer) =>
      renderTemplate('spire/federated-trust-domain.yaml', {
        name: federatedTrustDomainName(peer.trustDomain),
        className,
        trustDomain: peer.trustDomain,
        bundleEndpointUrl: bundleEndpointUrl(peer, facts),
        endpointSpiffeId: serverSpiffeId(peer.trustDomain),
        trustDomainBundle:
          facts?.trustBundles?.[peer.trustDomain] ?? bundlePlaceholder(peer.trustDomain),
      }),
    ),
    ...renderTemplate('spire/identities.yaml', {
      className,
      federatesWith: peers.map((p) => p.trustDomain),
    }),
  ];
}

export function renderSpire(
  config: Config,
  cluster: ClusterConfig,
  facts?: RenderFacts,
): K8sObject[] {
  const images = spireImages(config);
  const server = serverConf(config, cluster, facts);
  const withManager = config.registration === 'spire-controller-manager';
  const registrationConf = withManager ? controllerManagerConf(cluster) : registrarConf(cluster);
  const agent = agentConf(cluster);
  const common = {
    namespace: SPIRE_NAMESPACE,
    bundleConfigMap: SPIRE_BUNDLE_CONFIGMAP.name,
    serverServiceAccount: SPIRE_SERVER_SERVICE_ACCOUNT,
  };
  const registration = (
    renderTemplate('spire/registration.yaml', {
      ...common,
      registrarImage: images.registrar,
      registrarConf: registrationConf,
      controllerManagerImage: images.controllerManager,
      controllerManagerConf: registrationConf,
      registrationConfigDir: SPIRE_PATHS.registrationConfigDir,
      serverSocketDir: SPIRE_PATHS.serverSocketDir,
      webhookPort: CONTROLLER_MANAGER.webhookPort,
      controllerManagerHealthPort: CONTROLLER_MANAGER.healthPort,
    }) as RegistrationDoc[]
  ).find((d) => d.registration === config.registration) as RegistrationDoc;
  const objects = [
    ...renderTemplate('spire/namespace.yaml', common),
    ...renderTemplate('spire/csi-driver.yaml', {}),
    ...renderTemplate('spire/server.yaml', {
      ...common,
      service: SPIRE_SERVER.service,
      bundleService: SPIRE_SERVER.bundleService,
      statefulSet: SPIRE_SERVER.statefulSet,
      serverContainer: SPIRE_SERVER.container,
      serviceType: config.serviceType,
      grpcPort: SPIRE_PORTS.grpc,
      bundlePort: SPIRE_SERVER.bundlePort,
      healthPort: SPIRE_PORTS.serverHealth,
      serverImage: images.server,
      serverConf: server,
      serverConfigDir: SPIRE_PATHS.serverConfigDir,
      serverDataDir: SPIRE_PATHS.serverDataDir,
      serverSocketDir: SPIRE_PATHS.serverSocketDir,
      registrationContainer: registration.container as never,
      registrationConfigMap: registration.configMap.metadata.name,
    }),
    registration.configMap,
    ...(withManager
      ? [
          ...(facts?.spireCrds ?? []),
          ...renderTemplate('spire/controller-manager.yaml', {
            ...common,
            webhookService: CONTROLLER_MANAGER.webhookService,
            webhookConfiguration: CONTROLLER_MANAGER.webhookConfiguration,
            webhookPort: CONTROLLER_MANAGER.webhookPort,
          }),
          ...renderIdentities(config, cluster, facts),
        ]
      : []),
    ...renderTemplate('spire/agent.yaml', {
      ...common,
      agentServiceAccount: SPIRE_AGENT_SERVICE_ACCOUNT,
      agentImage: images.agent,
      csiDriverImage: images.csiDriver,
      nodeDriverRegistrarImage: images.nodeDriverRegistrar,
      agentConf: agent,
      healthPort: SPIRE_PORTS.agentHealth,
      psatAudience: PSAT_AUDIENCE,
      agentConfigDir: SPIRE_PATHS.agentConfigDir,
      agentBundleDir: SPIRE_PATHS.agentBundleDir,
      bundleFile: `${SPIRE_PATHS.agentBundleDir}/${SPIRE_BUNDLE_CONFIGMAP.key}`,
      waitImage: curlImage(config),
      agentTokenDir: SPIRE_PATHS.agentTokenDir,
      agentDataDir: SPIRE_PATHS.agentDataDir,
      agentSocketDir: SPIRE_PATHS.agentSocketDir,
    }),
  ] as K8sObject[];
  const hashes: Record<string, string> = {
    StatefulSet: configHash(server, registrationConf),
    DaemonSet: configHash(agent),
  };
  return objects.map((o) =>
    labelObject(withConfigHash(withStorage(o, config.spireStorageClass), hashes[o.kind]), 'spire'),
  );
}

interface ServerShape {
  spec: {
    volumeClaimTemplates?: { metadata: { name: string }; spec: Record<string, unknown> }[];
    template: { spec: { volumes?: { name: string }[] } };
  };
}

/** The server's data volume: a claim of the named (or default) class, or, for 'none', an emptyDir. */
function withStorage(o: K8sObject, storageClass: string): K8sObject {
  if (o.kind !== 'StatefulSet' || storageClass === '') return o;
  const { spec } = o as K8sObject & ServerShape;
  const claims = spec.volumeClaimTemplates ?? [];
  if (storageClass === 'none') {
    const { volumeClaimTemplates: _claims, ...rest } = spec;
    const volumes = [
      ...(spec.template.spec.volumes ?? []),
      ...claims.map((c) => ({ name: c.metadata.name, emptyDir: {} })),
    ];
    return {
      ...o,
      spec: { ...rest, template: { ...spec.template, spec: { ...spec.template.spec, volumes } } },
    };
  }
  return {
    ...o,
    spec: {
      ...spec,
      volumeClaimTemplates: claims.map((c) => ({
        ...c,
        spec: { ...c.spec, storageClassName: storageClass },
      })),
    },
  };
}

/** Pod-template annotation holding a digest of the workload's config files. */
export const CONFIG_HASH_ANNOTATION = 'mesh-federation.io/config-hash';

const configHash = (...files: string[]): string =>
  createHash('sha256').update(files.join('\0')).digest('hex').slice(0, 16);

/**
 * SPIRE reads server.conf and agent.conf only at start, and a ConfigMap
 * change restarts nothing: a digest of them in the pod template makes a run
 * that changes the config roll the pods, and a run that does not, not.
 */
function withConfigHash(o: K8sObject, hash: string | undefined): K8sObject {
  if (!hash) return o;
  const spec = o.spec as { template?: { metadata?: { annotations?: Record<string, string> } } };
  const template = spec.template ?? {};
  return {
    ...o,
    spec: {
      ...spec,
      template: {
        ...template,
        metadata: {
          ...template.metadata,
          annotations: { ...template.metadata?.annotations, [CONFIG_HASH_ANNOTATION]: hash },
        },
      },
    },
  };
}
