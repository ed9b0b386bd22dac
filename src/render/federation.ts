// Who federates with whom: every cluster's trust domain with every other's.
import type { ClusterConfig, Config } from '../config/config.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { SPIRE_SERVER } from '../model/names.ts';

export interface RenderFacts {
  /**
   * Bundle endpoint URL of each trust domain's SPIRE server as reachable from
   * the other clusters, e.g. https://203.0.113.7:8443, keyed by trust domain.
   * Known only once the servers' Services have addresses; `plan` renders a
   * placeholder instead.
   */
  bundleEndpoints?: Record<string, string>;
  /**
   * NodePort only: each cluster's east-west gateway as reachable from the
   * others (a node address and the node port of 15443), keyed by cluster name.
   * istiod ignores a NodePort gateway unless it is named in meshNetworks.
   */
  eastWestGateways?: Record<string, { host: string; port: number }>;
  /**
   * Each trust domain's bundle as its own server shows it (`bundle show -format spiffe`),
   * keyed by trust domain: what a ClusterFederatedTrustDomain starts from.
   */
  trustBundles?: Record<string, string>;
  /** The SPIRE Controller Manager's CRDs, as downloaded for its version. */
  spireCrds?: readonly K8sObject[];
}

/** The k8s-workload-registrar (reconcile mode) reads this pod annotation into the entry's federatesWith. */
export const FEDERATES_WITH_ANNOTATION = 'spiffe.io/federatesWith';

export function otherClusters(config: Config, cluster: ClusterConfig): ClusterConfig[] {
  return config.clusters.filter((c) => c.index !== cluster.index);
}

export function bundleEndpointPlaceholder(cluster: ClusterConfig): string {
  return `https://<bundle endpoint of ${cluster.name}>:${SPIRE_SERVER.bundlePort}`;
}

export function bundleEndpointUrl(cluster: ClusterConfig, facts: RenderFacts | undefined): string {
  return facts?.bundleEndpoints?.[cluster.trustDomain] ?? bundleEndpointPlaceholder(cluster);
}

/** SPIFFE ID of a SPIRE server, which its bundle endpoint presents (https_spiffe profile). */
export function serverSpiffeId(trustDomain: string): string {
  return `spiffe://${trustDomain}/spire/server`;
}

/**
 * Pod annotations that make the registrar federate the pod's entry with every other trust
 * domain; none with the controller manager, whose ClusterSPIFFEID says it for every pod.
 */
export function federationAnnotations(
  config: Config,
  cluster: ClusterConfig,
): Record<string, string> {
  if (config.registration !== 'k8s-workload-registrar') return {};
  const others = otherClusters(config, cluster).map((c) => c.trustDomain);
  return others.length > 0 ? { [FEDERATES_WITH_ANNOTATION]: others.join(',') } : {};
}
