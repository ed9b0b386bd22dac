// Seed: spire/install-spire.sh. Exposes each SPIRE server first, so every
// cluster's federation config can name the others' bundle endpoints; then
// installs servers and agents, waits for them, and exchanges trust bundles
// (`bundle show` on each server, `bundle set` on every other) by exec.
import { renderPhase, toYaml } from '../render/index.ts';
import { applyInOrder } from '../cluster/apply.ts';
import { rolloutGap, waitForRollouts } from '../cluster/rollout.ts';
import type { ApplyRecord, Attempt, ClusterClient, ExecResult } from '../cluster/client.ts';
import { ClusterError } from '../cluster/errors.ts';
import { discoverServiceAddress } from '../cluster/service-address.ts';
import { formatHostPort } from '../net-address.ts';
import { objectRef, type K8sObject } from '../k8s-object.ts';
import type { ServiceType } from '../config.ts';
import { isOurs } from '../cluster/ownership.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../names.ts';
import { parseBundle } from '../verify/federation.ts';
import { anyFailed, onEachCluster } from './per-cluster.ts';
import { mergeOutcomes } from './merge.ts';
import type { ClusterOutcome, RunContext } from './types.ts';

/** The address other clusters use to reach this cluster's bundle endpoint. */
export async function discoverBundleEndpoint(
  client: ClusterClient,
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

const exitText = (code: number | null): string =>
  code === null ? 'exit status unknown' : `exit ${code}`;

/** What spire-server says when nothing listens on its admin socket yet. */
const NOT_LISTENING = /dial unix \S+: connect: (no such file or directory|connection refused)/;

/**
 * The one policy for the phase's spire-server calls. A Ready pod's server may
 * still be opening its socket: that answer ran nothing, so it is asked again
 * until the run's timeout (the client already retries refused handshakes).
 * Any other answer goes to `judge`, which returns the value, asks for another
 * look (`pending`), or throws.
 */
async function askServer<T>(
  client: ClusterClient,
  args: string[],
  judge: (result: ExecResult) => Attempt<T>,
  stdin?: string,
): Promise<T> {
  return client.until(`spire-server ${args.slice(0, 2).join(' ')} answers`, async () => {
    const result = await spireServerCli(client, args, stdin);
    if (NOT_LISTENING.test(result.stderr))
      return { pending: `the server is not listening yet (${result.stderr.trim()})` };
    return judge(result);
  });
}

function cliFailure(client: ClusterClient, what: string, result: ExecResult): ClusterError {
  const said = result.stderr.trim() || result.stdout.trim();
  return new ClusterError(
    client.cluster.context,
    `${what} failed (${exitText(result.exitCode)}${said ? `: ${said}` : ''})`,
  );
}

/** `bundle show -format spiffe` of the cluster's own server. */
export async function showOwnBundle(client: ClusterClient): Promise<string> {
  return askServer<string>(client, ['bundle', 'show', '-format', 'spiffe'], (result) => {
    // A server whose CA is still being signed upstream has no bundle to show yet.
    if (result.exitCode === 0 && result.stdout.trim() !== '') return { value: result.stdout };
    if (result.exitCode === 0 || result.exitCode === null)
      return { pending: `bundle show printed nothing (${exitText(result.exitCode)})` };
    throw cliFailure(client, 'bundle show', result);
  });
}

/** The bundle this cluster's server holds for `trustDomain`; null when it holds none; throws when it cannot tell. */
export async function heldBundle(
  client: ClusterClient,
  trustDomain: string,
): Promise<string | null> {
  const args = ['bundle', 'list', '-id', `spiffe://${trustDomain}`, '-format', 'spiffe'];
  return askServer<string | null>(client, args, (result) => {
    if (result.exitCode === 0) return { value: result.stdout.trim() === '' ? null : result.stdout };
    if (/not ?found|no such bundle/i.test(result.stderr + result.stdout)) return { value: null };
    // A read ended without a status: its output may be cut short, so read again.
    if (result.exitCode === null) return { pending: 'bundle list ended without an exit status' };
    throw cliFailure(client, `bundle list for ${trustDomain}`, result);
  });
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

/**
 * Whether `held` (a `bundle list -format spiffe` answer) is the bundle
 * `wanted`: the same X.509 roots, compared as certificates. Sequence
 * numbers, refresh hints, JWT keys and JSON layout do not count.
 */
export function holdsBundle(held: string | null, wanted: string): boolean {
  if (held === null) return false;
  const have = rootFingerprints(held);
  return have.length > 0 && have.join() === rootFingerprints(wanted).join();
}

export type BundleSetVerdict =
  { status: 'done' } | { status: 'unknown'; reason: string } | { status: 'failed'; reason: string };

/**
 * Whether a `bundle set` took, by what the server holds afterwards. The exit
 * status alone never decides: an unknown one (see ExecResult) leaves the
 * command perhaps still running, so the answer is to look again; a known
 * one can be stale when another run set the bundle meanwhile.
 */
export function bundleSetVerdict(
  trustDomain: string,
  exitCode: number | null,
  stderr: string,
  readBack: string | null,
  wanted: string,
): BundleSetVerdict {
  if (holdsBundle(readBack, wanted)) return { status: 'done' };
  const held = readBack === null ? 'holds no bundle' : 'holds other roots';
  if (exitCode === null)
    return {
      status: 'unknown',
      reason: `bundle set for ${trustDomain} ended without an exit status and the server ${held} for it`,
    };
  if (exitCode === 0)
    return {
      status: 'failed',
      reason: `bundle set for ${trustDomain} reported success, but the server ${held} for it`,
    };
  return {
    status: 'failed',
    reason: `bundle set for ${trustDomain} failed (${exitText(exitCode)}${stderr.trim() ? `: ${stderr.trim()}` : ''}); the server ${held} for it`,
  };
}

/** How an unconfirmed set is read back: the pauses before each look, and how often it is sent. */
export interface BundleSetPace {
  readBackDelaysMs: readonly number[];
  tries: number;
}
/** A set usually shows within a second of the socket closing; about 5s per send is generous. */
const BUNDLE_SET_PACE: BundleSetPace = { readBackDelaysMs: [250, 500, 1000, 1500, 2000], tries: 3 };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `bundle set` over exec stdin, confirmed by reading the bundle back. A set
 * whose status never came may still be running, or its input may have been
 * cut off with the socket: it is read back for a while, then sent again
 * (setting the same bundle twice is harmless).
 */
async function setPeerBundle(
  client: ClusterClient,
  trustDomain: string,
  bundle: string,
  pace: BundleSetPace,
): Promise<void> {
  const args = ['bundle', 'set', '-id', `spiffe://${trustDomain}`, '-format', 'spiffe'];
  let unconfirmed = '';
  for (let tries = 1; tries <= pace.tries; tries++) {
    const sent = await askServer(client, args, (result) => ({ value: result }), bundle);
    for (const delay of [0, ...pace.readBackDelaysMs]) {
      await sleep(delay);
      const readBack = await heldBundle(client, trustDomain);
      const verdict = bundleSetVerdict(trustDomain, sent.exitCode, sent.stderr, readBack, bundle);
      if (verdict.status === 'done') return;
      if (verdict.status === 'failed')
        throw new ClusterError(client.cluster.context, verdict.reason);
      unconfirmed = verdict.reason;
    }
  }
  throw new ClusterError(client.cluster.context, `${unconfirmed}, after ${pace.tries} tries`);
}

export async function exchangeBundles(
  ctx: RunContext,
  pace: BundleSetPace = BUNDLE_SET_PACE,
): Promise<ClusterOutcome[]> {
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
 * Why a Pending claim cannot bind as the cluster stands, or undefined while
 * it still may (young enough for a provisioner to act, a class binding on
 * first use, a pre-provisioned volume of its class). No class and no default
 * class is what EKS 1.30+ gives; a class name that is not there is a typo.
 */
export function unbindableClaim(
  claim: K8sObject | null,
  storageClasses: K8sObject[],
  volumes: K8sObject[],
  now: number,
): string | undefined {
  if (!claim || volumePhase(claim) !== 'Pending') return undefined;
  const created = Date.parse(String(claim.metadata.creationTimestamp ?? ''));
  if (!(now - created >= CLAIM_GRACE_MS)) return undefined;
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

const claimError = (client: ClusterClient, why: string): ClusterError =>
  new ClusterError(
    client.cluster.context,
    `the SPIRE server's volume claim ${SPIRE_NAMESPACE}/${SERVER_CLAIM.metadata.name} is Pending: ${why}. Set 'spire-storage-class' to a StorageClass this cluster has (kubectl get storageclass), or to 'none' to run the server without a volume (its data is then lost on restart).`,
  );

/** The server's claim, when it cannot bind, as the error that names the fix. */
async function unbindableServerClaim(client: ClusterClient): Promise<ClusterError | undefined> {
  const claim = await client.read(SERVER_CLAIM).catch(() => null);
  if (!claim || volumePhase(claim) !== 'Pending') return undefined;
  // Without the right to list classes or volumes the wait cannot judge, and only times out.
  const classes = await client.list('storage.k8s.io/v1', 'StorageClass').catch(() => null);
  const volumes = await client.list('v1', 'PersistentVolume').catch(() => null);
  if (!classes || !volumes) return undefined;
  const why = unbindableClaim(claim, classes, volumes, Date.now());
  return why ? claimError(client, why) : undefined;
}

/**
 * A server that never starts because its volume is never bound is named as
 * such when the wait times out, with the input that fixes it, instead of as
 * a rollout timeout.
 */
export async function pendingServerClaim(client: ClusterClient): Promise<ClusterError | undefined> {
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
export async function waitForServer(client: ClusterClient, objects: K8sObject[]): Promise<void> {
  const server = objects.find((o) => o.kind === 'StatefulSet');
  if (!server) return;
  let stuck: ClusterError | undefined;
  try {
    await client.until(`${objectRef(server)} is rolled out`, async () => {
      const current = await client.read(server);
      const gap = current ? rolloutGap({ ...current, kind: server.kind }) : 'it does not exist';
      if (gap === null) return { value: undefined };
      stuck = await unbindableServerClaim(client);
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
  client: ClusterClient,
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
    const replaced = await replaceServerForStorage(client, rendered.objects);
    const records = await applyInOrder(
      client,
      rendered.objects.filter((o) => !exposedFirst(o)),
    );
    // Agents wait for the bundle only the server writes: the server first.
    await waitForServer(client, rendered.objects);
    await waitForRollouts(client, rendered.objects);
    log('SPIRE server and agents are ready');
    return { records: [...replaced.records, ...records], notes: replaced.notes };
  });
  if (anyFailed(install)) return mergeOutcomes([expose, install]);
  // A failed exchange is reported per cluster, with what was installed above.
  return mergeOutcomes([expose, install, await exchangeBundles(ctx)]);
}
