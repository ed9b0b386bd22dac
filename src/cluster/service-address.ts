// Where other clusters (or the runner) reach a Service from outside: a
// LoadBalancer's ingress address, or, for NodePort, a node's address and the
// node port. One rule for the SPIRE bundle endpoint, the east-west gateway and
// the ingress gateway.
import type { ServiceType } from '../config/config.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import type { ClusterApi } from './api.ts';
import { ClusterError } from './errors.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../model/names.ts';
import { formatHostPort } from '../net-address.ts';

export interface ExternalAddress {
  host: string;
  port: number;
}

interface ServiceShape {
  spec?: { ports?: { port: number; nodePort?: number }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}
interface NodeShape {
  status?: { addresses?: { type: string; address: string }[] };
}

export function loadBalancerHost(service: K8sObject): string | undefined {
  const ingress = (service as ServiceShape).status?.loadBalancer?.ingress?.[0];
  return ingress?.ip || ingress?.hostname || undefined;
}

export function nodePortOf(service: K8sObject, port: number): number | undefined {
  return (service as ServiceShape).spec?.ports?.find((p) => p.port === port)?.nodePort;
}

/** A node's ExternalIP, else its InternalIP (kind nodes have no ExternalIP). */
export function nodeAddress(nodes: K8sObject[]): string | undefined {
  const addresses = nodes.flatMap((n) => (n as NodeShape).status?.addresses ?? []);
  return (
    addresses.find((a) => a.type === 'ExternalIP')?.address ??
    addresses.find((a) => a.type === 'InternalIP')?.address
  );
}

/** The address of `service`'s `port` as seen from outside, if it has one yet. */
export function externalAddress(
  service: K8sObject,
  port: number,
  serviceType: ServiceType,
  nodes: K8sObject[],
): ExternalAddress | undefined {
  if (serviceType === 'LoadBalancer') {
    const host = loadBalancerHost(service);
    return host ? { host, port } : undefined;
  }
  const nodePort = nodePortOf(service, port);
  const host = nodeAddress(nodes);
  return nodePort && host ? { host, port: nodePort } : undefined;
}

/** Waits (by watch) until the Service has an outside address for `port`, then returns it. */
export async function discoverServiceAddress(
  client: ClusterApi,
  service: { name: string; namespace: string },
  port: number,
  serviceType: ServiceType,
): Promise<ExternalAddress> {
  const header = { apiVersion: 'v1', kind: 'Service', metadata: service };
  const found = await client.waitFor(
    header,
    (o) =>
      serviceType === 'LoadBalancer' ? Boolean(loadBalancerHost(o)) : Boolean(nodePortOf(o, port)),
    () =>
      serviceType === 'LoadBalancer'
        ? 'the LoadBalancer has no ingress address yet (does the cluster have a load balancer? use service-type: NodePort for local clusters)'
        : 'no node port assigned yet',
  );
  const nodes = serviceType === 'NodePort' ? await client.list('v1', 'Node') : [];
  const address = externalAddress(found, port, serviceType, nodes);
  if (!address)
    throw new ClusterError(
      client.cluster.context,
      `no node has an ExternalIP or InternalIP address for the NodePort of ${service.namespace}/${service.name}.`,
    );
  return address;
}

/** The address other clusters use to reach this cluster's bundle endpoint. */
export async function discoverBundleEndpoint(
  client: ClusterApi,
  serviceType: ServiceType,
): Promise<string> {
  const address = await discoverServiceAddress(
    client,
    { name: SPIRE_SERVER.bundleService, namespace: SPIRE_NAMESPACE },
    SPIRE_SERVER.bundlePort,
    serviceType,
  );
  return `https://${formatHostPort(address)}`;
}
