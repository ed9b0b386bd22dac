// Seed: spire/install-spire.sh. Exposes each SPIRE server first, so every
// cluster's federation config can name the others' bundle endpoints; then
// installs servers and agents and waits for them. Then federation: with the
// seed's registrar, trust bundles are exchanged (`bundle show` on each
// server, `bundle set` on every other) by exec; with the SPIRE Controller
// Manager, each peer becomes a ClusterFederatedTrustDomain that starts from
// the bundle its server shows, and once every server holds every peer's
// bundle the ClusterSPIFFEID asks for identities federated with them all.
import { renderPhase, toYaml } from '../render/index.ts';
import { applyInOrder } from '../cluster/apply.ts';
import { rolloutGap, waitForRollouts } from '../cluster/rollout.ts';
import type { ClusterApi } from '../cluster/api.ts';
import {
  BUNDLE_SET_PACE,
  heldBundle,
  setPeerBundle,
  showOwnBundle,
  type BundleSetPace,
} from '../cluster/spire-cli.ts';
import { holdsBundle } from '../analyze/bundle-set.ts';
import type { ApplyRecord } from '../model/results.ts';
import { ClusterError } from '../cluster/errors.ts';
import { discoverBundleEndpoint } from '../cluster/service-address.ts';
import { objectRef, type K8sObject } from '../model/k8s-object.ts';
import { isOurs } from '../cluster/ownership.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../model/names.ts';
import { describeError, isTransient } from '../cluster/errors.ts';
import { federatedTrustDomainName, SPIRE_IDENTITY_KINDS } from '../render/spire.ts';
import type { RenderFacts } from '../render/federation.ts';
import { fetchSpireCrds } from '../tools/spire-crds.ts';
import { anyFailed, onEachCluster } from './per-cluster.ts';
import { mergeOutcomes } from './merge.ts';
import type { RunContext } from './types.ts';
import type { ClusterOutcome } from '../model/results.ts';

/** Every server's own bundle (`bundle show -format spiffe`), keyed by trust domain. */
async function readOwnBundles(
  ctx: RunContext,
): Promise<{ shown: ClusterOutcome[]; own: Map<string, string> }> {
  const own = new Map<string, string>();
  const shown = await onEachCluster('spire · bundle show', ctx.clients, async (client, log) => {
    own.set(client.cluster.trustDomain, await showOwnBundle(client));
    log(`read the ${client.cluster.trustDomain} trust bundle`);
  });
  return { shown, own };
}

export async function exchangeBundles(
  ctx: RunContext,
  pace: BundleSetPace = BUNDLE_SET_PACE,
): Promise<ClusterOutcome[]> {
  const { shown, own } = await readOwnBundles(ctx);
  if (anyFailed(shown)) return shown;
  const set = await onEachCluster('spire · bundle set', ctx.clients, async (client, log) => {
    const records: ApplyRecord[] = [];
    for (const other of ctx.config.clusters.filter((c) => c.index !== client.cluster.index)) {
      const bundle = own.get(other.trustDomain) as string;
      const ref = `SPIFFE bundle/spiffe://${other.trustDomain}`;
      const held = await heldBundle(client, other.trustDomain);
      if (holdsBundle(held, bundle)) {
        records.push({ ref, action: 'unchanged' });
        continue;
      }
      await setPeerBundle(client, other.trustDomain, bundle, pace);
      records.push({ ref, action: held === null ? 'created' : 'changed' });
      log(`${held === null ? 'set' : 'updated'} the ${other.trustDomain} bundle`);
    }
    return { records };
  });
  return mergeOutcomes([shown, set]);
}

const SERVER_CLAIM = {
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name: `spire-data-${SPIRE_SERVER.pod}`, namespace: SPIRE_NAMESPACE },
};
const SERVER_POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: SPIRE_SERVER.pod, namespace: SPIRE_NAMESPACE },
};
const DEFAULT_CLASS_ANNOTATIONS = [
  'storageclass.kubernetes.io/is-default-class',
  'storageclass.beta.kubernetes.io/is-default-class',
];

interface VolumeShape {
  spec?: { storageClassName?: string };
  status?: { phase?: string };
}
const volumeSpec = (o: K8sObject) => (o as VolumeShape).spec;
const volumePhase = (o: K8sObject) => (o as VolumeShape).status?.phase;

/**
 * How long a new claim is left to whatever may bind it: a provisioner that
 * serves claims of any class (or of none) acts within seconds.
 */
export const CLAIM_GRACE_MS = 60_000;
/**
 * How long a run looks at a claim an earlier run left Pending before calling it
 * unbindable: that run's API server may have been down, and a provisioner acts
 * within seconds once it is back.
 */
export const LEFT_CLAIM_GRACE_MS = 10_000;

/**
 * Why a Pending claim cannot bind as the cluster stands, or undefined while
 * it still may (young enough for a provisioner to act, a class binding on
 * first use, a pre-provisioned volume of its class). No class and no default
 * class is what EKS 1.30+ gives; a class name that is not there is a typo.
 * A claim older than the grace still gets LEFT_CLAIM_GRACE_MS from
 * `waitingSince`, when this run began to wait for it.
 */
export function unbindableClaim(
  claim: K8sObject | null,
  storageClasses: K8sObject[],
  volumes: K8sObject[],
  now: number,
  waitingSince = 0,
): string | undefined {
  if (!claim || volumePhase(claim) !== 'Pending') return undefined;
  const created = Date.parse(String(claim.metadata.creationTimestamp ?? ''));
  if (!(now - created >= CLAIM_GRACE_MS && now - waitingSince >= LEFT_CLAIM_GRACE_MS))
    return undefined;
  const wanted = volumeSpec(claim)?.storageClassName;
  const waiting = volumes.some(
    (v) =>
      volumePhase(v) === 'Available' && (volumeSpec(v)?.storageClassName ?? '') === (wanted ?? ''),
  );
  if (waiting) return undefined;
  if (wanted === undefined)
    return storageClasses.some((c) =>
      DEFAULT_CLASS_ANNOTATIONS.some((a) => c.metadata.annotations?.[a] === 'true'),
    )
      ? undefined
      : 'it names no StorageClass and the cluster has no default one';
  if (wanted === '') return 'it asks for no StorageClass and no volume without one is available';
  return storageClasses.some((c) => c.metadata.name === wanted)
    ? undefined
    : `StorageClass '${wanted}' does not exist in this cluster`;
}

const claimError = (client: ClusterApi, why: string): ClusterError =>
  new ClusterError(
    client.cluster.context,
    `the SPIRE server's volume claim ${SPIRE_NAMESPACE}/${SERVER_CLAIM.metadata.name} is Pending: ${why}. Set 'spire-storage-class' to a StorageClass this cluster has (kubectl get storageclass), or to 'none' to run the server without a volume (its data is then lost on restart).`,
  );

/** The server's claim, when it cannot bind, as the error that names the fix. */
async function unbindableServerClaim(
  client: ClusterApi,
  waitingSince: number,
): Promise<ClusterError | undefined> {
  const claim = await client.read(SERVER_CLAIM).catch(() => null);
  if (!claim || volumePhase(claim) !== 'Pending') return undefined;
  // Without the right to list classes or volumes the wait cannot judge, and only times out.
  const classes = await client.list('storage.k8s.io/v1', 'StorageClass').catch(() => null);
  const volumes = await client.list('v1', 'PersistentVolume').catch(() => null);
  if (!classes || !volumes) return undefined;
  const why = unbindableClaim(claim, classes, volumes, Date.now(), waitingSince);
  return why ? claimError(client, why) : undefined;
}

/**
 * A server that never starts because its volume is never bound is named as
 * such when the wait times out, with the input that fixes it, instead of as
 * a rollout timeout.
 */
export async function pendingServerClaim(client: ClusterApi): Promise<ClusterError | undefined> {
  const claim = await client.read(SERVER_CLAIM).catch(() => null);
  if (!claim || volumePhase(claim) !== 'Pending') return undefined;
  const storageClass = volumeSpec(claim)?.storageClassName;
  return claimError(
    client,
    `it is still unbound after the whole wait (${storageClass ? `StorageClass '${storageClass}'` : "the cluster's default StorageClass"}; kubectl describe pvc -n ${SPIRE_NAMESPACE} ${SERVER_CLAIM.metadata.name} says why)`,
  );
}

/**
 * Waits until the SPIRE server is rolled out, and fails as soon as its volume
 * claim cannot bind rather than after the whole timeout. Polled, because a
 * watch on the StatefulSet sees nothing of the claim.
 */
export async function waitForServer(client: ClusterApi, objects: K8sObject[]): Promise<void> {
  const server = objects.find((o) => o.kind === 'StatefulSet');
  if (!server) return;
  let stuck: ClusterError | undefined;
  const waitingSince = Date.now();
  try {
    await client.until(`${objectRef(server)} is rolled out`, async () => {
      const current = await client.read(server);
      const gap = current ? rolloutGap({ ...current, kind: server.kind }) : 'it does not exist';
      if (gap === null) return { value: undefined };
      stuck = await unbindableServerClaim(client, waitingSince);
      if (stuck) throw stuck;
      return { pending: gap };
    });
  } catch (error) {
    if (error === stuck) throw error;
    throw (await pendingServerClaim(client)) ?? error;
  }
}

interface ClaimTemplates {
  spec?: {
    volumeClaimTemplates?: { metadata?: { name?: string }; spec?: { storageClassName?: string } }[];
  };
}
const claimTemplates = (o: K8sObject): string =>
  JSON.stringify(
    ((o as ClaimTemplates).spec?.volumeClaimTemplates ?? []).map((t) => [
      t.metadata?.name,
      t.spec?.storageClassName ?? null,
    ]),
  );

/** Whether the server's volume claims differ: the API server changes them only by replacing the StatefulSet. */
export function storageChanged(current: K8sObject, rendered: K8sObject): boolean {
  return claimTemplates(current) !== claimTemplates(rendered);
}

/**
 * A run with a new `spire-storage-class` (the fix a Pending claim asks for)
 * would be refused: a StatefulSet's claim templates are immutable. So ours
 * is deleted first, with its claim if that never bound (nothing in it, and
 * a new one must be made with the new class). A Bound claim holds the
 * server's datastore and keys: it stays, and the run says so.
 */
export async function replaceServerForStorage(
  client: ClusterApi,
  objects: K8sObject[],
): Promise<{ records: ApplyRecord[]; notes: string[] }> {
  const rendered = objects.find((o) => o.kind === 'StatefulSet');
  const current = rendered ? await client.read(rendered) : null;
  if (!rendered || !current || !isOurs(current) || !storageChanged(current, rendered))
    return { records: [], notes: [] };
  const records: ApplyRecord[] = [];
  // Recorded as a note: the apply that follows re-creates it.
  const notes = [`replaced ${objectRef(current)}: its volume claims changed (spire-storage-class)`];
  await client.delete(current);
  await client.waitForGone(current);
  // The old pod must let go of the claim before a new one uses or replaces it.
  await client.waitForGone(SERVER_POD);
  const claim = await client.read(SERVER_CLAIM);
  if (claim && volumePhase(claim) === 'Pending') {
    await client.delete(claim);
    records.push({ ref: objectRef(claim), action: 'deleted' });
    await client.waitForGone(claim);
  } else if (claim) {
    notes.push(
      `kept ${objectRef(claim)} (${volumePhase(claim) ?? 'unknown phase'}): it holds the server's datastore and keys; delete it yourself for the new storage to apply to them`,
    );
  }
  return { records, notes };
}

/** Applied before the rest, so every cluster's bundle endpoint address is known when its peers' config is rendered. */
const exposedFirst = (o: K8sObject): boolean =>
  o.kind === 'Namespace' ||
  (o.kind === 'Service' && o.metadata.name === SPIRE_SERVER.bundleService);

/**
 * Applies custom resources the controller manager's validating webhook admits: right
 * after its pod is Ready the API server may not reach it yet (a 500), so asked again.
 */
async function applyAdmitted(client: ClusterApi, objects: K8sObject[]): Promise<ApplyRecord[]> {
  const records: ApplyRecord[] = [];
  for (const o of objects)
    records.push(
      await client.until<ApplyRecord>(
        `${objectRef(o)} is admitted by the SPIRE Controller Manager`,
        async () => {
          try {
            return { value: await client.applyOne(o) };
          } catch (error) {
            if (isTransient(error)) return { pending: describeError(error) };
            throw error;
          }
        },
      ),
    );
  return records;
}

/**
 * The bundle a ClusterFederatedTrustDomain starts from: the one it already holds, if any.
 * The controller manager uses it only to create the relationship (the server then keeps
 * the bundle fresh from the endpoint), so a re-run changes nothing when the peer's keys
 * have rotated since.
 */
async function startingBundle(
  client: ClusterApi,
  trustDomain: string,
  shown: string,
): Promise<string> {
  const live = await client.read({
    apiVersion: 'spire.spiffe.io/v1alpha1',
    kind: 'ClusterFederatedTrustDomain',
    metadata: { name: federatedTrustDomainName(trustDomain) },
  });
  const held = (live?.spec as { trustDomainBundle?: string } | undefined)?.trustDomainBundle;
  return held || shown;
}

/** Federation by custom resources (profile current); see the top of this file. */
async function federateByResources(ctx: RunContext, facts: RenderFacts): Promise<ClusterOutcome[]> {
  const { config } = ctx;
  const { shown, own } = await readOwnBundles(ctx);
  if (anyFailed(shown)) return shown;
  const federate = await onEachCluster('spire · federate', ctx.clients, async (client, log) => {
    const peers = config.clusters.filter((c) => c.index !== client.cluster.index);
    const trustBundles: Record<string, string> = {};
    for (const peer of peers)
      trustBundles[peer.trustDomain] = await startingBundle(
        client,
        peer.trustDomain,
        own.get(peer.trustDomain) as string,
      );
    const resources = renderPhase(config, 'spire', client.cluster, {
      ...facts,
      trustBundles,
    }).objects.filter((o) => SPIRE_IDENTITY_KINDS.has(o.kind));
    const domains = resources.filter((o) => o.kind === 'ClusterFederatedTrustDomain');
    const records = await applyAdmitted(client, domains);
    // An entry federating with a trust domain the server holds no bundle for is refused
    // ("unable to find federated bundle"): every relationship first, then the identities.
    for (const peer of peers)
      await client.until(
        `${client.cluster.trustDomain}'s server holds the ${peer.trustDomain} bundle`,
        async () =>
          (await heldBundle(client, peer.trustDomain)) === null
            ? { pending: 'no bundle yet: the ClusterFederatedTrustDomain is not reconciled' }
            : { value: true },
      );
    records.push(
      ...(await applyAdmitted(
        client,
        resources.filter((o) => !domains.includes(o)),
      )),
    );
    log(
      `federated with ${peers.map((p) => p.trustDomain).join(', ')} by ClusterFederatedTrustDomain`,
    );
    return { records };
  });
  return mergeOutcomes([shown, federate]);
}

export async function runSpire(ctx: RunContext): Promise<ClusterOutcome[]> {
  const { config } = ctx;
  const withManager = config.registration === 'spire-controller-manager';
  // Downloaded (and checksummed) once per version, before any cluster is touched.
  const spireCrds = withManager
    ? await fetchSpireCrds(config.versions.spireControllerManager, config.spireCrdsBaseUrl)
    : undefined;
  // Each cluster's bundle endpoint, as found by the step that exposes it; the
  // install step renders every server's federation config from these.
  const endpoints = new Map<string, string>();
  const expose = await onEachCluster(
    'spire · expose bundle endpoint',
    ctx.clients,
    async (client, log) => {
      const first = renderPhase(config, 'spire', client.cluster).objects.filter(exposedFirst);
      const records = await applyInOrder(client, first);
      const url = await discoverBundleEndpoint(client, config.serviceType);
      endpoints.set(client.cluster.trustDomain, url);
      log(`bundle endpoint of ${client.cluster.trustDomain}: ${url}`);
      return { records, notes: [`bundle endpoint ${url}`] };
    },
  );
  if (anyFailed(expose)) return expose;

  const facts: RenderFacts = {
    bundleEndpoints: Object.fromEntries(endpoints),
    ...(spireCrds ? { spireCrds } : {}),
  };
  const install = await onEachCluster(
    'spire · install',
    ctx.clients,
    async (client, log, applied) => {
      const rendered = renderPhase(config, 'spire', client.cluster, facts);
      ctx.writeManifest(client.cluster.context, 'spire', toYaml(rendered.objects));
      const replaced = await replaceServerForStorage(client, rendered.objects);
      applied.push(...replaced.records);
      applied.push(
        ...(await applyInOrder(
          client,
          rendered.objects.filter((o) => !exposedFirst(o) && !SPIRE_IDENTITY_KINDS.has(o.kind)),
        )),
      );
      // Agents wait for the bundle only the server writes: the server first.
      await waitForServer(client, rendered.objects);
      await waitForRollouts(client, rendered.objects);
      log('SPIRE server and agents are ready');
      return { notes: replaced.notes };
    },
  );
  if (anyFailed(install)) return mergeOutcomes([expose, install]);
  // A failed federation is reported per cluster, with what was installed above.
  const federation = withManager
    ? await federateByResources(ctx, facts)
    : await exchangeBundles(ctx);
  return mergeOutcomes([expose, install, federation]);
}
