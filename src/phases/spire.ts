// Seed: spire/install-spire.sh. Exposes each SPIRE server first, so every
// cluster's federation config can name the others' bundle endpoints; then
// installs servers and agents, waits for them, and exchanges trust bundles
// (`bundle show` on each server, `bundle set` on every other) by exec.
import { renderPhase, toYaml } from '../render/index.ts';
import { applyInOrder } from '../cluster/apply.ts';
import { waitForRollouts } from '../cluster/rollout.ts';
import type { ApplyRecord, ClusterClient } from '../cluster/client.ts';
import { ClusterError } from '../cluster/errors.ts';
import type { K8sObject } from '../k8s-object.ts';
import type { ServiceType } from '../config.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../names.ts';
import { parseBundle } from '../verify/federation.ts';
import { anyFailed, onEachCluster } from './per-cluster.ts';
import { mergeOutcomes } from './merge.ts';
import type { ClusterOutcome, RunContext } from './types.ts';

interface ServiceStatus {
  spec?: { ports?: { port: number; nodePort?: number }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}
interface NodeStatus {
  status?: { addresses?: { type: string; address: string }[] };
}

const serviceHeader = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: SPIRE_SERVER.service, namespace: SPIRE_NAMESPACE },
};

function ingressHost(o: K8sObject): string | undefined {
  const ingress = (o as ServiceStatus).status?.loadBalancer?.ingress?.[0];
  return ingress?.ip || ingress?.hostname || undefined;
}

function hostPort(host: string, port: number): string {
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The address other clusters use to reach this cluster's bundle endpoint. */
export async function discoverBundleEndpoint(
  client: ClusterClient,
  serviceType: ServiceType,
): Promise<string> {
  if (serviceType === 'LoadBalancer') {
    const service = await client.waitFor(
      serviceHeader,
      (o) => Boolean(ingressHost(o)),
      () =>
        'the LoadBalancer has no ingress address yet (does the cluster have a load balancer? use service-type: NodePort for local clusters)',
    );
    return hostPort(ingressHost(service) as string, SPIRE_SERVER.bundlePort);
  }
  const service = await client.waitFor(
    serviceHeader,
    (o) => Boolean(nodePort(o)),
    () => 'no node port assigned yet',
  );
  const nodes = await client.list('v1', 'Node');
  const addresses = nodes.flatMap((n) => (n as NodeStatus).status?.addresses ?? []);
  const address =
    addresses.find((a) => a.type === 'ExternalIP')?.address ??
    addresses.find((a) => a.type === 'InternalIP')?.address;
  if (!address)
    throw new ClusterError(
      client.cluster.context,
      'no node has an ExternalIP or InternalIP address for the NodePort bundle endpoint.',
    );
  return hostPort(address, nodePort(service) as number);
}

function nodePort(o: K8sObject): number | undefined {
  return (o as ServiceStatus).spec?.ports?.find((p) => p.port === SPIRE_SERVER.bundlePort)
    ?.nodePort;
}

/** `./bin/spire-server <args> -socketPath …` in the cluster's server pod, by exec, as the seed runs it. */
export function spireServerCli(client: ClusterClient, args: string[], stdin?: string) {
  return client.exec(
    SPIRE_NAMESPACE,
    SPIRE_SERVER.pod,
    SPIRE_SERVER.container,
    [SPIRE_SERVER.binary, ...args, '-socketPath', SPIRE_SERVER.socket],
    stdin === undefined ? {} : { stdin },
  );
}

/** `bundle show -format spiffe` of the cluster's own server, retried while the server starts. */
export async function showOwnBundle(client: ClusterClient): Promise<string> {
  return client.retry('read its SPIRE trust bundle (bundle show)', async () => {
    const result = await spireServerCli(client, ['bundle', 'show', '-format', 'spiffe']);
    if (result.exitCode !== 0) {
      // The server may still be starting behind a Ready pod; 503 makes the client retry.
      throw Object.assign(
        new Error(`bundle show failed: ${result.stderr.trim() || result.stdout.trim()}`),
        { code: 503 },
      );
    }
    return result.stdout;
  });
}

/** The bundle this cluster's server holds for `trustDomain`, or null when it has none. */
export async function heldBundle(
  client: ClusterClient,
  trustDomain: string,
): Promise<string | null> {
  const result = await spireServerCli(client, [
    'bundle',
    'list',
    '-id',
    `spiffe://${trustDomain}`,
    '-format',
    'spiffe',
  ]);
  return result.exitCode === 0 && result.stdout.trim() !== '' ? result.stdout : null;
}

function rootFingerprints(bundle: string): string[] {
  try {
    return parseBundle(bundle)
      .roots.map((r) => r.fingerprint256)
      .sort();
  } catch {
    return [];
  }
}

function sameRoots(a: string, b: string): boolean {
  const left = rootFingerprints(a);
  const right = rootFingerprints(b);
  return left.length > 0 && left.join() === right.join();
}

async function exchangeBundles(ctx: RunContext): Promise<ClusterOutcome[]> {
  const own = new Map<string, string>();
  const shown = await onEachCluster('spire · bundle show', ctx.clients, async (client, log) => {
    own.set(client.cluster.trustDomain, await showOwnBundle(client));
    log(`read the ${client.cluster.trustDomain} trust bundle`);
  });
  if (anyFailed(shown)) return shown;
  const set = await onEachCluster('spire · bundle set', ctx.clients, async (client, log) => {
    const records: ApplyRecord[] = [];
    for (const other of ctx.config.clusters.filter((c) => c.index !== client.cluster.index)) {
      const bundle = own.get(other.trustDomain) as string;
      const ref = `SPIFFE bundle/spiffe://${other.trustDomain}`;
      const held = await heldBundle(client, other.trustDomain);
      if (held !== null && sameRoots(held, bundle)) {
        records.push({ ref, action: 'unchanged' });
        continue;
      }
      const result = await spireServerCli(
        client,
        ['bundle', 'set', '-id', `spiffe://${other.trustDomain}`, '-format', 'spiffe'],
        bundle,
      );
      if (result.exitCode !== 0)
        throw new ClusterError(
          client.cluster.context,
          `bundle set for ${other.trustDomain} failed: ${result.stderr.trim() || result.stdout.trim()}`,
        );
      records.push({ ref, action: held === null ? 'created' : 'changed' });
      log(`${held === null ? 'set' : 'updated'} the ${other.trustDomain} bundle`);
    }
    return { records };
  });
  return mergeOutcomes([shown, set]);
}

/** Applied before the rest, so every cluster's bundle endpoint address is known when its peers' config is rendered. */
const exposedFirst = (o: K8sObject): boolean =>
  o.kind === 'Namespace' || (o.kind === 'Service' && o.metadata.name === SPIRE_SERVER.service);

export async function runSpire(ctx: RunContext): Promise<ClusterOutcome[]> {
  const { config } = ctx;
  const expose = await onEachCluster(
    'spire · expose bundle endpoint',
    ctx.clients,
    async (client, log) => {
      const first = renderPhase(config, 'spire', client.cluster, ctx.facts).objects.filter(
        exposedFirst,
      );
      const records = await applyInOrder(client, first);
      const url = await discoverBundleEndpoint(client, config.serviceType);
      ctx.facts.bundleEndpoints = {
        ...ctx.facts.bundleEndpoints,
        [client.cluster.trustDomain]: url,
      };
      log(`bundle endpoint of ${client.cluster.trustDomain}: ${url}`);
      return { records, notes: [`bundle endpoint ${url}`] };
    },
  );
  if (anyFailed(expose)) return expose;

  const install = await onEachCluster('spire · install', ctx.clients, async (client, log) => {
    const rendered = renderPhase(config, 'spire', client.cluster, ctx.facts);
    ctx.writeManifest(client.cluster.context, 'spire', toYaml(rendered.objects));
    const records = await applyInOrder(
      client,
      rendered.objects.filter((o) => !exposedFirst(o)),
    );
    await waitForRollouts(client, rendered.objects);
    log('SPIRE server and agents are ready');
    return { records };
  });
  if (anyFailed(install)) return mergeOutcomes([expose, install]);
  // A failed exchange is reported per cluster, with what was installed above.
  return mergeOutcomes([expose, install, await exchangeBundles(ctx)]);
}
