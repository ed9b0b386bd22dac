// spire phase (seed: spire/install-spire.sh): a SPIRE server per cluster,
// federated with every other cluster's, its workload registrar, and the agents
// with the SPIFFE CSI driver.
import { createHash } from 'node:crypto';
import type { ClusterConfig, Config } from '../config/config.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../model/names.ts';
import type { RenderFacts } from './federation.ts';
import { curlImage, spireImages } from './images.ts';
import { labelObject } from './labels.ts';
import {
  agentConf,
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

export function renderSpire(
  config: Config,
  cluster: ClusterConfig,
  facts?: RenderFacts,
): K8sObject[] {
  const images = spireImages(config);
  const server = serverConf(config, cluster, facts);
  const registrar = registrarConf(cluster);
  const agent = agentConf(cluster);
  const common = { namespace: SPIRE_NAMESPACE, bundleConfigMap: SPIRE_BUNDLE_CONFIGMAP.name };
  const objects = [
    ...renderTemplate('spire/namespace.yaml', common),
    ...renderTemplate('spire/csi-driver.yaml', {}),
    ...renderTemplate('spire/server.yaml', {
      ...common,
      serverServiceAccount: SPIRE_SERVER_SERVICE_ACCOUNT,
      service: SPIRE_SERVER.service,
      bundleService: SPIRE_SERVER.bundleService,
      statefulSet: SPIRE_SERVER.statefulSet,
      serverContainer: SPIRE_SERVER.container,
      serviceType: config.serviceType,
      grpcPort: SPIRE_PORTS.grpc,
      bundlePort: SPIRE_SERVER.bundlePort,
      healthPort: SPIRE_PORTS.serverHealth,
      serverImage: images.server,
      registrarImage: images.registrar,
      serverConf: server,
      registrarConf: registrar,
      serverConfigDir: SPIRE_PATHS.serverConfigDir,
      serverDataDir: SPIRE_PATHS.serverDataDir,
      serverSocketDir: SPIRE_PATHS.serverSocketDir,
      registrarConfigDir: SPIRE_PATHS.registrarConfigDir,
    }),
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
    StatefulSet: configHash(server, registrar),
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
