// spire phase (seed: spire/install-spire.sh): a SPIRE server per cluster,
// federated with every other cluster's, its workload registrar, and the agents
// with the SPIFFE CSI driver.
import type { ClusterConfig, Config } from '../config.ts';
import type { K8sObject } from '../k8s-object.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../names.ts';
import type { RenderFacts } from './federation.ts';
import { spireImages } from './images.ts';
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
  const common = { namespace: SPIRE_NAMESPACE, bundleConfigMap: SPIRE_BUNDLE_CONFIGMAP.name };
  const objects = [
    ...renderTemplate('spire/namespace.yaml', common),
    ...renderTemplate('spire/csi-driver.yaml', {}),
    ...renderTemplate('spire/server.yaml', {
      ...common,
      serverServiceAccount: SPIRE_SERVER_SERVICE_ACCOUNT,
      service: SPIRE_SERVER.service,
      statefulSet: SPIRE_SERVER.statefulSet,
      serverContainer: SPIRE_SERVER.container,
      serviceType: config.serviceType,
      grpcPort: SPIRE_PORTS.grpc,
      bundlePort: SPIRE_SERVER.bundlePort,
      healthPort: SPIRE_PORTS.serverHealth,
      serverImage: images.server,
      registrarImage: images.registrar,
      serverConf: serverConf(config, cluster, facts),
      registrarConf: registrarConf(cluster),
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
      agentConf: agentConf(cluster),
      healthPort: SPIRE_PORTS.agentHealth,
      psatAudience: PSAT_AUDIENCE,
      agentConfigDir: SPIRE_PATHS.agentConfigDir,
      agentBundleDir: SPIRE_PATHS.agentBundleDir,
      agentTokenDir: SPIRE_PATHS.agentTokenDir,
      agentDataDir: SPIRE_PATHS.agentDataDir,
      agentSocketDir: SPIRE_PATHS.agentSocketDir,
    }),
  ] as K8sObject[];
  return objects.map((o) => labelObject(o, 'spire'));
}
