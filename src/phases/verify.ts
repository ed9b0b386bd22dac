// Seed: the "Verification" sections. Gathers evidence from the clusters (API
// reads, exec into SPIRE servers and the sleep pod, istioctl proxy-config) and
// hands it to the pure analyzers in src/verify/, which decide.
import { renderIngress, renderPhase } from '../render/index.ts';
import type { ClusterApi } from '../cluster/api.ts';
import { applyInOrder } from '../cluster/apply.ts';
import { waitForRollouts } from '../cluster/rollout.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { describeError } from '../cluster/errors.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../config/config.ts';
import {
  CERT_MANAGER_NAMESPACE,
  EXAMPLES,
  INGRESS_GATEWAY_SERVICE,
  ISTIO_NAMESPACE,
  ROOT_CA_SECRET,
} from '../model/names.ts';
import { spireRead } from '../cluster/spire-cli.ts';
import { once } from '../once.ts';
import { analyzeReadiness, type WorkloadKind, type WorkloadRef } from '../analyze/readiness.ts';
import { analyzeIdentities, awaitsRegistration, type MeshWorkload } from '../analyze/identities.ts';
import {
  analyzeFederation,
  federationMatrix,
  parseBundleList,
  type FederationServerEvidence,
} from '../analyze/federation.ts';
import { analyzeChain } from '../analyze/chain.ts';
import type { ChainReport } from '../model/evidence.ts';
import {
  analyzeEastWest,
  analyzeNorthSouth,
  parseHelloBody,
  parseTrafficOutput,
  trafficScript,
} from '../analyze/traffic.ts';
import { failed, notRun, truncate, type Check } from '../model/check.ts';
import { discoverServiceAddress } from '../cluster/service-address.ts';
import { formatHostPort } from '../net-address.ts';
import type { RunContext } from './types.ts';
import type { ClusterOutcome, Evidence } from '../model/results.ts';
import type { ClusterConfig } from '../config/config.ts';
import { topology } from '../model/topology.ts';

const OWNED = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
const WORKLOAD_KINDS: WorkloadKind[] = ['Deployment', 'DaemonSet', 'StatefulSet'];
/** Field manager for the temporary scale-down, so the examples phase can take `replicas` back. */
const VERIFY_MANAGER = 'mesh-federation-verify';

interface PodLike {
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: {
    serviceAccountName?: string;
    containers?: { name: string }[];
    initContainers?: { name: string }[];
  };
  status?: { phase?: string };
}

/** Istio injects `istio-proxy` as a container, or as a native sidecar (an init container). */
const hasProxy = (pod: PodLike): boolean =>
  [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].some(
    (c) => c.name === 'istio-proxy',
  );

/** Workloads the action installed on this cluster, which must all exist and be Ready. */
function expectedWorkloads(ctx: RunContext, client: ClusterApi): WorkloadRef[] {
  return (['spire', 'examples'] as const)
    .flatMap((phase) => renderPhase(ctx.config, phase, client.cluster).objects)
    .filter((o) => (WORKLOAD_KINDS as string[]).includes(o.kind))
    .map((o) => ({
      kind: o.kind as WorkloadKind,
      namespace: o.metadata.namespace ?? '',
      name: o.metadata.name,
    }));
}

async function readiness(ctx: RunContext, client: ClusterApi): Promise<Check[]> {
  const [deployments, daemonSets, statefulSets] = await Promise.all(
    WORKLOAD_KINDS.map((kind) => client.list('apps/v1', kind, { labelSelector: OWNED })),
  );
  const namespaces = [
    ...new Set(
      [...(deployments ?? []), ...(daemonSets ?? []), ...(statefulSets ?? [])].map(
        (o) => o.metadata.namespace ?? '',
      ),
    ),
  ];
  const pods = (
    await Promise.all(namespaces.map((namespace) => client.list('v1', 'Pod', { namespace })))
  ).flat();
  const events = (
    await Promise.all(namespaces.map((namespace) => client.list('v1', 'Event', { namespace })))
  ).flat();
  return analyzeReadiness({
    cluster: client.cluster.context,
    deployments: deployments as never,
    daemonSets: daemonSets as never,
    statefulSets: statefulSets as never,
    pods: pods as never,
    events: events as never,
    expected: expectedWorkloads(ctx, client),
  });
}

interface DeployedWorkload {
  owner: string;
  namespace: string;
  podLabels: Record<string, string>;
  serviceAccount: string;
}

/** The sample Deployments the examples phase renders for this cluster, as their pods look. */
function deployedExamples(ctx: RunContext, client: ClusterApi): DeployedWorkload[] {
  return renderPhase(ctx.config, 'examples', client.cluster)
    .objects.filter((o) => o.kind === 'Deployment')
    .map((o) => {
      const template = (
        o.spec as {
          template?: {
            metadata?: { labels?: Record<string, string> };
            spec?: { serviceAccountName?: string };
          };
        }
      ).template;
      return {
        owner: `Deployment ${o.metadata.name}`,
        namespace: o.metadata.namespace ?? '',
        podLabels: template?.metadata?.labels ?? {},
        serviceAccount: template?.spec?.serviceAccountName ?? 'default',
      };
    });
}

function deployedAs(pod: PodLike, deployed: DeployedWorkload[]): Partial<MeshWorkload> {
  const labels = pod.metadata.labels ?? {};
  const match = deployed.find(
    (d) =>
      d.namespace === pod.metadata.namespace &&
      Object.keys(d.podLabels).length > 0 &&
      Object.entries(d.podLabels).every(([k, v]) => labels[k] === v),
  );
  return match ? { deployedServiceAccount: match.serviceAccount, owner: match.owner } : {};
}

/** Pods that opted into the SPIRE sidecar template must each have an identity. */
async function meshWorkloads(ctx: RunContext, client: ClusterApi): Promise<MeshWorkload[]> {
  const namespaces = [
    EXAMPLES.helloworld.namespace,
    EXAMPLES.sleep.namespace,
    EXAMPLES.bookinfo.namespace,
  ];
  const pods = (
    await Promise.all(namespaces.map((namespace) => client.list('v1', 'Pod', { namespace })))
  ).flat() as unknown as PodLike[];
  const deployed = deployedExamples(ctx, client);
  return pods
    .filter((p) =>
      (p.metadata.annotations?.['inject.istio.io/templates'] ?? '').split(',').includes('spire'),
    )
    .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
    .map((p) => ({
      namespace: p.metadata.namespace ?? '',
      serviceAccount: p.spec?.serviceAccountName ?? 'default',
      pod: p.metadata.name,
      ...(p.metadata.uid ? { podUid: p.metadata.uid } : {}),
      ...deployedAs(p, deployed),
    }));
}

/** Each server's `bundle list`, read once a run: identities and federation share the answer. */
type BundleLists = (client: ClusterApi) => Promise<string>;

function bundleLists(clients: readonly ClusterApi[]): BundleLists {
  const lists = new Map(
    clients.map((c) => [c, once(() => spireRead(c, ['bundle', 'list', '-format', 'spiffe']))]),
  );
  return (client) => lists.get(client)!();
}

/** The trust domains a server holds bundles of; nothing when that cannot be read. */
async function heldBundles(
  client: ClusterApi,
  lists: BundleLists,
): Promise<{ federatedBundles?: string[] }> {
  try {
    return { federatedBundles: [...parseBundleList(await lists(client)).keys()] };
  } catch {
    return {};
  }
}

/** How long identities waits for registration to catch up with pods created just before. */
export const REGISTRATION_SETTLE_MS = 60_000;

async function identities(
  ctx: RunContext,
  client: ClusterApi,
  lists: BundleLists,
): Promise<Check[]> {
  // Only the entries are read again while waiting: a missing federated bundle is never waited for.
  const read = async () =>
    analyzeIdentities({
      cluster: client.cluster.context,
      trustDomain: client.cluster.trustDomain,
      meshTrustDomains: ctx.config.clusters.map((c) => c.trustDomain),
      workloads: await meshWorkloads(ctx, client),
      entries: await spireRead(client, ['entry', 'show']),
      ...(await heldBundles(client, lists)),
    });
  const deadline = Date.now() + Math.min(ctx.config.timeoutMs, REGISTRATION_SETTLE_MS);
  let checks = await read();
  while (checks.some(awaitsRegistration) && Date.now() < deadline) {
    await client.waiting(() => new Promise((resolve) => setTimeout(resolve, 2000)));
    checks = await read();
  }
  return checks;
}

async function federation(ctx: RunContext, lists: BundleLists): Promise<Check[]> {
  const evidence: FederationServerEvidence[] = await Promise.all(
    ctx.clients.map(async (client) => ({
      cluster: client.cluster.context,
      trustDomain: client.cluster.trustDomain,
      bundleShow: await spireRead(client, ['bundle', 'show', '-format', 'spiffe']),
      bundleList: await lists(client),
    })),
  );
  return analyzeFederation(evidence);
}

async function firstPod(
  client: ClusterApi,
  namespace: string,
  labelSelector: string,
): Promise<PodLike> {
  const pods = (await client.list('v1', 'Pod', {
    namespace,
    labelSelector,
  })) as unknown as PodLike[];
  const running = pods.find((p) => p.status?.phase === 'Running') ?? pods[0];
  if (!running) throw new Error(`no pod matches ${labelSelector} in namespace ${namespace}`);
  return running;
}

async function rootCaPem(client: ClusterApi): Promise<string> {
  const secret = await client.read({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: ROOT_CA_SECRET, namespace: CERT_MANAGER_NAMESPACE },
  });
  const data = (secret?.data ?? {}) as Record<string, string>;
  const pem = data['ca.crt'] || data['tls.crt'];
  if (!pem)
    throw new Error(`secret ${CERT_MANAGER_NAMESPACE}/${ROOT_CA_SECRET} holds no CA certificate`);
  return Buffer.from(pem, 'base64').toString('utf8');
}

/** The chain targets of the topology: sleep on the first cluster, productpage where Bookinfo runs. */
async function chains(ctx: RunContext): Promise<ChainReport[]> {
  const targets = topology(ctx.config).chainTargets.map((t) => ({
    ...t,
    client: clientOf(ctx, t.cluster),
  }));
  const roots: Record<string, string> = {};
  await Promise.all(
    ctx.clients.map(async (c) => (roots[c.cluster.trustDomain] = await rootCaPem(c))),
  );
  return Promise.all(
    targets.map(async ({ client, namespace, selector }) => {
      const pod = await firstPod(client, namespace, selector);
      const dump = hasProxy(pod)
        ? await client.istioctl([
            'proxy-config',
            'secret',
            `${pod.metadata.name}.${namespace}`,
            '-o',
            'json',
          ])
        : null;
      return analyzeChain({
        cluster: client.cluster.context,
        workload: `${namespace}/${pod.metadata.name}`,
        proxySecret: dump,
        expected: {
          trustDomain: client.cluster.trustDomain,
          namespace,
          serviceAccount: pod.spec?.serviceAccountName ?? 'default',
        },
        certManagerCaPem: roots[client.cluster.trustDomain] as string,
        meshTrustDomains: ctx.config.clusters.map((c) => c.trustDomain),
        now: new Date(),
        meshRootsPem: roots,
      });
    }),
  );
}

function clientOf(ctx: RunContext, cluster: ClusterConfig): ClusterApi {
  const client = ctx.clients.find((c) => c.cluster.context === cluster.context);
  if (!client) throw new Error(`no client for cluster ${cluster.context}`);
  return client;
}

async function sendRequests(ctx: RunContext, url: string, count = ctx.config.requests) {
  const client = clientOf(ctx, topology(ctx.config).trafficClient);
  const pod = await firstPod(client, EXAMPLES.sleep.namespace, `app=${EXAMPLES.sleep.app}`);
  const result = await client.exec(
    EXAMPLES.sleep.namespace,
    pod.metadata.name,
    EXAMPLES.sleep.container,
    ['sh', '-c', trafficScript(url, count)],
  );
  return parseTrafficOutput(result.stdout);
}

async function eastWest(ctx: RunContext): Promise<Check[]> {
  const { namespace, service, port, path } = EXAMPLES.helloworld;
  const samples = await sendRequests(ctx, `http://${service}.${namespace}:${port}${path}`);
  return [
    analyzeEastWest({
      cluster: topology(ctx.config).trafficClient.context,
      clusters: ctx.config.clusters.map((c) => c.context),
      samples,
    }),
  ];
}

/**
 * istiod pushes a new Gateway and VirtualService to the ingress gateway a
 * moment after they are applied; requests sent before that get 404s that say
 * nothing about the mesh. One answer from helloworld means the route is live.
 */
async function waitForRoute(ctx: RunContext, url: string): Promise<void> {
  const client = clientOf(ctx, topology(ctx.config).trafficClient);
  await client.until(`the ingress route to ${url} answers from helloworld`, async () => {
    const [sample] = await sendRequests(ctx, url, 1);
    return sample?.ok && parseHelloBody(sample.body)
      ? { value: true }
      : {
          pending: sample
            ? `last answer: ${sample.status || sample.error || 'none'} ${truncate(sample.body.trim(), 80)}`
            : 'no answer',
        };
  });
}

/**
 * Seed: scale v1 to zero, route the ingress gateway of the last cluster to
 * helloworld, curl it from cluster 1; only v2 may answer. With more clusters,
 * every helloworld but the ingress cluster's is scaled to zero.
 */
async function northSouth(ctx: RunContext, evidence: Evidence[]): Promise<Check[]> {
  const layout = topology(ctx.config);
  const ingress = clientOf(ctx, layout.ingress);
  const expected = layout.helloworld.find((h) => h.cluster.index === layout.ingress.index);
  const others = layout.helloworld
    .filter((h) => h.cluster.index !== layout.ingress.index)
    .map((h) => ({
      client: clientOf(ctx, h.cluster),
      deployment: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: `helloworld-${h.version}`, namespace: EXAMPLES.helloworld.namespace },
      },
    }));
  const replicas = await Promise.all(
    others.map(
      async (o) =>
        ((await o.client.read(o.deployment))?.spec as { replicas?: number } | undefined)
          ?.replicas ?? 1,
    ),
  );
  try {
    await Promise.all(
      others.map(async ({ client, deployment }) => {
        await client.applyOne({ ...deployment, spec: { replicas: 0 } }, VERIFY_MANAGER);
        await client.waitFor(
          deployment,
          (o) => ((o.status as { replicas?: number } | undefined)?.replicas ?? 0) === 0,
          () => `${deployment.metadata.name} pods are still there`,
        );
      }),
    );
    await applyInOrder(ingress, renderIngress());
    const address = await discoverServiceAddress(
      ingress,
      { name: INGRESS_GATEWAY_SERVICE, namespace: ISTIO_NAMESPACE },
      80,
      ctx.config.serviceType,
    );
    const url = `http://${formatHostPort(address)}`;
    evidence.push({ kind: 'gateway-url', url });
    await waitForRoute(ctx, `${url}${EXAMPLES.helloworld.path}`);
    const samples = await sendRequests(ctx, `${url}${EXAMPLES.helloworld.path}`);
    return [
      analyzeNorthSouth({
        cluster: layout.trafficClient.context,
        clusters: ctx.config.clusters.map((c) => c.context),
        samples,
        ...(expected ? { expectedVersion: expected.version } : {}),
      }),
    ];
  } finally {
    // Left as found: the scaled-away versions serve again before verify ends.
    await Promise.all(
      others.map(async ({ client, deployment }, i) => {
        await client.applyOne({ ...deployment, spec: { replicas: replicas[i] } }, VERIFY_MANAGER);
        await waitForRollouts(client, [deployment as K8sObject]);
      }),
    );
  }
}

/** A check that could not even gather its evidence fails with the reason. */
async function guarded(
  name: string,
  cluster: string,
  fn: () => Promise<Check[]>,
): Promise<Check[]> {
  try {
    return await fn();
  } catch (error) {
    return [failed(name, cluster, `could not gather evidence: ${describeError(error)}`)];
  }
}

export async function runVerify(ctx: RunContext): Promise<{
  outcomes: ClusterOutcome[];
  checks: Check[];
  evidence: Evidence[];
}> {
  const wanted = new Set(ctx.config.verifyChecks);
  const checks: Check[] = [];
  const evidence: Evidence[] = [];
  // A check left out of verify-checks is still listed, where it would have
  // run, so the report can never read as a proof it did not make.
  const leftOut = (name: string, cluster: string): Check =>
    notRun(name, cluster, 'not selected in verify-checks');
  const everyCluster = async (
    name: string,
    fn: (c: ClusterApi) => Promise<Check[]>,
  ): Promise<void> => {
    if (!wanted.has(name as never)) {
      checks.push(...ctx.clients.map((c) => leftOut(name, c.cluster.context)));
      return;
    }
    for (const result of await Promise.all(
      ctx.clients.map((c) => guarded(name, c.cluster.context, () => fn(c))),
    ))
      checks.push(...result);
  };
  const mesh = ctx.config.clusters.map((c) => c.context).join('+');
  const meshWide = async (name: string, fn: () => Promise<Check[]>): Promise<void> => {
    checks.push(
      ...(wanted.has(name as never) ? await guarded(name, mesh, fn) : [leftOut(name, mesh)]),
    );
  };

  await everyCluster('readiness', (c) => readiness(ctx, c));
  const lists = bundleLists(ctx.clients);
  await everyCluster('identities', (c) => identities(ctx, c, lists));
  await meshWide('federation', async () => {
    const found = await federation(ctx, lists);
    const trustDomains = ctx.config.clusters.map((c) => c.trustDomain);
    evidence.push({ kind: 'federation', matrix: federationMatrix(trustDomains, found) });
    return found;
  });
  await meshWide('chain', async () => {
    const reports = await chains(ctx);
    evidence.push(...reports.map((report) => ({ kind: 'chain' as const, report })));
    return reports.flatMap((r) => r.checks);
  });
  await meshWide('east-west', () => eastWest(ctx));
  await meshWide('north-south', () => northSouth(ctx, evidence));

  const outcomes: ClusterOutcome[] = ctx.clients.map((c) => {
    const ran = checks.filter((x) => x.cluster === c.cluster.context && !x.notRun);
    const leftOutHere = checks.filter((x) => x.cluster === c.cluster.context && x.notRun).length;
    return {
      cluster: c.cluster.context,
      ok: ran.every((x) => x.ok),
      durationMs: 0,
      records: [],
      notes: [
        `${ran.filter((x) => x.ok).length}/${ran.length} checks passed${leftOutHere > 0 ? `, ${leftOutHere} not run` : ''}`,
      ],
    };
  });
  return { outcomes, checks, evidence };
}
