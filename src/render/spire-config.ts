// The configs of the SPIRE server, agent and what registers workloads: HCL as
// documented for SPIRE 1.5 (spiffe/spire v1.5.1 doc/spire_server.md,
// doc/spire_agent.md, doc/plugin_*.md and
// support/k8s/k8s-workload-registrar/README.md) and still read by 1.15, and the
// SPIRE Controller Manager's YAML (spire-controller-manager v0.7.0
// docs/spire-controller-manager-config.md).
import YAML from 'yaml';
import type { ClusterConfig, Config } from '../config/config.ts';
import { CERT_MANAGER_ISSUER } from './cert-manager.ts';
import {
  bundleEndpointUrl,
  otherClusters,
  serverSpiffeId,
  type RenderFacts,
} from './federation.ts';
import { attr, block, writeHcl, type HclEntry } from './hcl.ts';
import { CERT_MANAGER_NAMESPACE, SPIRE_NAMESPACE, SPIRE_SERVER } from '../model/names.ts';

export const SPIRE_PATHS = {
  serverConfigDir: '/run/spire/config',
  serverDataDir: '/run/spire/data',
  serverSocketDir: '/run/spire/sockets',
  /** The registrar's or the controller manager's config. */
  registrationConfigDir: '/run/spire/registration',
  agentConfigDir: '/run/spire/config',
  agentDataDir: '/run/spire/data',
  agentBundleDir: '/run/spire/bundle',
  /** Where the PSAT node attestor reads its projected token by default (file `spire-agent`). */
  agentTokenDir: '/var/run/secrets/tokens',
  /** The agent's Workload API socket dir (a host dir the SPIFFE CSI driver mounts into pods). */
  agentSocketDir: '/run/spire/agent-sockets',
  /**
   * Where pods get that dir: pilot-agent reads ./var/run/secrets/workload-spiffe-uds/socket
   * (pkg/security/security.go) and Istio's injection templates mount the
   * `workload-socket` volume here, so the SPIRE patch replaces that mount
   * rather than adding a second one through the image's /var/run -> /run link.
   */
  workloadSocketDir: '/var/run/secrets/workload-spiffe-uds',
  /** The file name istio-proxy expects (WORKLOAD_IDENTITY_SOCKET_FILE's default). */
  workloadSocketFile: 'socket',
} as const;

export const SPIRE_PORTS = { grpc: 8081, serverHealth: 8080, agentHealth: 9982 } as const;
export const SPIRE_AGENT_SERVICE_ACCOUNT = 'spire-agent';
export const SPIRE_SERVER_SERVICE_ACCOUNT = 'spire-server';
/** ConfigMap the k8sbundle notifier keeps the trust bundle in; agents bootstrap from it. */
export const SPIRE_BUNDLE_CONFIGMAP = { name: 'spire-bundle', key: 'bundle.crt' } as const;
/** PSAT audience shared by the agents' projected token and the server's attestor (its default). */
export const PSAT_AUDIENCE = 'spire-server';

/** Namespaces the registrar leaves alone: nothing there runs with a SPIRE identity. */
export const REGISTRAR_DISABLED_NAMESPACES = [
  'kube-system',
  'kube-public',
  'kube-node-lease',
  SPIRE_NAMESPACE,
  CERT_MANAGER_NAMESPACE,
];

const healthChecks = (port: number): HclEntry =>
  block(
    'health_checks',
    [],
    [
      attr('listener_enabled', true),
      attr('bind_address', '0.0.0.0'),
      attr('bind_port', String(port)),
      attr('live_path', '/live'),
      attr('ready_path', '/ready'),
    ],
  );

const plugin = (type: string, name: string, data: readonly HclEntry[]): HclEntry =>
  block(type, [name], [block('plugin_data', [], data)]);

/**
 * The SPIRE Controller Manager's settings. Its className is what the
 * ClusterSPIFFEID and ClusterFederatedTrustDomains must carry.
 */
export const CONTROLLER_MANAGER = {
  className: 'mesh-federation',
  webhookService: 'spire-controller-manager-webhook',
  webhookConfiguration: 'mesh-federation-spire-controller-manager',
  webhookPort: 9443,
  healthPort: 8083,
} as const;

export function serverConf(config: Config, cluster: ClusterConfig, facts?: RenderFacts): string {
  const data = SPIRE_PATHS.serverDataDir;
  // With the controller manager, ClusterFederatedTrustDomains hold the relationships; the
  // server's own `federates_with` would be a second, unmanaged copy of each.
  const peers =
    config.registration === 'k8s-workload-registrar' ? otherClusters(config, cluster) : [];
  const federatesWith = peers.map((other) =>
    block(
      'federates_with',
      [other.trustDomain],
      [
        attr('bundle_endpoint_url', bundleEndpointUrl(other, facts)),
        block(
          'bundle_endpoint_profile',
          ['https_spiffe'],
          [attr('endpoint_spiffe_id', serverSpiffeId(other.trustDomain))],
        ),
      ],
    ),
  );
  return writeHcl([
    block(
      'server',
      [],
      [
        attr('bind_address', '0.0.0.0'),
        attr('bind_port', SPIRE_PORTS.grpc),
        attr('socket_path', SPIRE_SERVER.socket),
        attr('trust_domain', cluster.trustDomain),
        attr('data_dir', data),
        attr('log_level', 'INFO'),
        block(
          'federation',
          [],
          [
            block(
              'bundle_endpoint',
              [],
              [attr('address', '0.0.0.0'), attr('port', SPIRE_SERVER.bundlePort)],
            ),
            ...federatesWith,
          ],
        ),
      ],
    ),
    block(
      'plugins',
      [],
      [
        plugin('DataStore', 'sql', [
          attr('database_type', 'sqlite3'),
          attr('connection_string', `${data}/datastore.sqlite3`),
        ]),
        plugin('KeyManager', 'disk', [attr('keys_path', `${data}/keys.json`)]),
        plugin('NodeAttestor', 'k8s_psat', [
          attr('clusters', {
            [cluster.name]: {
              service_account_allow_list: [`${SPIRE_NAMESPACE}:${SPIRE_AGENT_SERVICE_ACCOUNT}`],
            },
          }),
        ]),
        plugin('Notifier', 'k8sbundle', [
          attr('namespace', SPIRE_NAMESPACE),
          attr('config_map', SPIRE_BUNDLE_CONFIGMAP.name),
          attr('config_map_key', SPIRE_BUNDLE_CONFIGMAP.key),
        ]),
        // cert-manager signs SPIRE's intermediate CA: the root stays in cert-manager.
        plugin('UpstreamAuthority', 'cert-manager', [
          attr('issuer_name', CERT_MANAGER_ISSUER.name),
          attr('issuer_kind', CERT_MANAGER_ISSUER.kind),
          attr('issuer_group', CERT_MANAGER_ISSUER.group),
          attr('namespace', SPIRE_NAMESPACE),
        ]),
      ],
    ),
    healthChecks(SPIRE_PORTS.serverHealth),
  ]);
}

export function agentConf(cluster: ClusterConfig): string {
  return writeHcl([
    block(
      'agent',
      [],
      [
        attr('data_dir', SPIRE_PATHS.agentDataDir),
        attr('log_level', 'INFO'),
        attr('server_address', `${SPIRE_SERVER.service}.${SPIRE_NAMESPACE}.svc`),
        attr('server_port', SPIRE_PORTS.grpc),
        attr('socket_path', `${SPIRE_PATHS.agentSocketDir}/${SPIRE_PATHS.workloadSocketFile}`),
        attr('trust_bundle_path', `${SPIRE_PATHS.agentBundleDir}/${SPIRE_BUNDLE_CONFIGMAP.key}`),
        attr('trust_domain', cluster.trustDomain),
        // Istio asks SDS for ROOTCA and expects every trust domain's bundle in it
        // (spire #3503); "null" keeps the local-only bundle out of its way.
        block(
          'sds',
          [],
          [
            attr('default_svid_name', 'default'),
            attr('default_bundle_name', 'null'),
            attr('default_all_bundles_name', 'ROOTCA'),
          ],
        ),
      ],
    ),
    block(
      'plugins',
      [],
      [
        plugin('NodeAttestor', 'k8s_psat', [attr('cluster', cluster.name)]),
        plugin('KeyManager', 'memory', []),
        // The agent runs with hostNetwork and reaches its kubelet on 127.0.0.1,
        // whose serving certificate is rarely signed by the cluster CA.
        plugin('WorkloadAttestor', 'k8s', [attr('skip_kubelet_verification', true)]),
      ],
    ),
    healthChecks(SPIRE_PORTS.agentHealth),
  ]);
}

/**
 * Reconcile mode: controllers watch pods and nodes and write entries straight
 * to the server socket, with no admission webhook and no CRD of their own
 * (SPIRE 1.5 has only `reconcile` and `crd`; `crd` adds the SpiffeID CRD and a
 * validating webhook). With neither pod_label nor pod_annotation set, each pod
 * gets spiffe://<td>/ns/<ns>/sa/<sa>, and its `spiffe.io/federatesWith`
 * annotation becomes the entry's federatesWith (mode-reconcile base_controller.go).
 */
export function registrarConf(cluster: ClusterConfig): string {
  return writeHcl([
    attr('log_level', 'info'),
    attr('mode', 'reconcile'),
    attr('trust_domain', cluster.trustDomain),
    attr('server_socket_path', SPIRE_SERVER.socket),
    attr('cluster', cluster.name),
    // Its default ":8080" would collide with the server's health port in the same pod.
    attr('metrics_addr', '0'),
    attr('disabled_namespaces', REGISTRAR_DISABLED_NAMESPACES),
  ]);
}

/**
 * One controller manager per cluster, beside its server: no leader election, no metrics
 * listener (the server owns the pod's ports), entries under the agents' k8s_psat IDs of
 * this cluster name (its default parent ID template), and the registrar's ignored namespaces.
 */
export function controllerManagerConf(cluster: ClusterConfig): string {
  return YAML.stringify({
    apiVersion: 'spire.spiffe.io/v1alpha1',
    kind: 'ControllerManagerConfig',
    metrics: { bindAddress: '0' },
    health: { healthProbeBindAddress: `0.0.0.0:${CONTROLLER_MANAGER.healthPort}` },
    leaderElection: { leaderElect: false },
    webhook: { port: CONTROLLER_MANAGER.webhookPort },
    clusterName: cluster.name,
    trustDomain: cluster.trustDomain,
    className: CONTROLLER_MANAGER.className,
    ignoreNamespaces: REGISTRAR_DISABLED_NAMESPACES,
    validatingWebhookConfigurationName: CONTROLLER_MANAGER.webhookConfiguration,
    spireServerSocketPath: SPIRE_SERVER.socket,
    logLevel: 'info',
  });
}
