// Seed: spire/install-spire.sh. Exposes each SPIRE server first, so every
// cluster's federation config can name the others' bundle endpoints; then
// installs servers and agents, waits for them, and exchanges trust bundles
// (`bundle show` on each server, `bundle set` on every other) by exec.
import { renderPhase, toYaml } from '../render/index.ts';
import { applyInOrder } from '../cluster/apply.ts';
import { waitForRollouts } from '../cluster/rollout.ts';
import type { ApplyRecord, ClusterClient } from '../cluster/client.ts';
import { ClusterError } from '../cluster/errors.ts';
import { discoverServiceAddress } from '../cluster/service-address.ts';
import { formatHostPort } from '../net-address.ts';
import type { K8sObject } from '../k8s-object.ts';
import type { ServiceType } from '../config.ts';
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

/** `bundle show -format spiffe` of the cluster's own server, asked again while the server starts. */
export async function showOwnBundle(client: ClusterClient): Promise<string> {
  return client.until<string>('the SPIRE server shows its trust bundle (bundle show)', async () => {
    const result = await spireServerCli(client, ['bundle', 'show', '-format', 'spiffe']);
    // A Ready pod's server may still be starting: any failure here is "not yet".
    return result.exitCode === 0 && result.stdout.trim() !== ''
      ? { value: result.stdout }
      : { pending: result.stderr.trim() || result.stdout.trim() || exitText(result.exitCode) };
  });
}

/** The bundle this cluster's server holds for `trustDomain`; null when it holds none; throws when it cannot tell. */
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
  if (result.exitCode === 0) return result.stdout.trim() === '' ? null : result.stdout;
  const message = result.stderr.trim() || result.stdout.trim();
  if (/not ?found|no such bundle/i.test(message)) return null;
  throw new ClusterError(
    client.cluster.context,
    `bundle list for ${trustDomain} failed (${exitText(result.exitCode)}): ${message}`,
  );
}

/**
 * Whether a `bundle set` took: judged by reading the bundle back, never by the
 * exit status alone, which may be unknown (see ExecResult) or stale.
 */
export function bundleSetVerdict(
  trustDomain: string,
  exitCode: number | null,
  stderr: string,
  readBack: string | null,
  wanted: string,
): { ok: true } | { ok: false; reason: string } {
  if (readBack !== null && sameRoots(readBack, wanted)) return { ok: true };
  const held = readBack === null ? 'holds no bundle' : 'holds other roots';
  if (exitCode === 0)
    return {
      ok: false,
      reason: `bundle set for ${trustDomain} reported success, but the server ${held} for it`,
    };
  return {
    ok: false,
    reason: `bundle set for ${trustDomain} failed (${exitText(exitCode)}${stderr.trim() ? `: ${stderr.trim()}` : ''}); the server ${held} for it`,
  };
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
      const verdict = bundleSetVerdict(
        other.trustDomain,
        result.exitCode,
        result.stderr,
        await heldBundle(client, other.trustDomain),
        bundle,
      );
      if (!verdict.ok) throw new ClusterError(client.cluster.context, verdict.reason);
      records.push({ ref, action: held === null ? 'created' : 'changed' });
      log(`${held === null ? 'set' : 'updated'} the ${other.trustDomain} bundle`);
    }
    return { records };
  });
  return mergeOutcomes([shown, set]);
}

/**
 * A server that never starts because its volume is never bound (no default
 * StorageClass, as on EKS 1.30+) is named as such, with the input that fixes
 * it, instead of as a rollout timeout.
 */
export async function pendingServerClaim(client: ClusterClient): Promise<ClusterError | undefined> {
  const claim = await client
    .read({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: `spire-data-${SPIRE_SERVER.pod}`, namespace: SPIRE_NAMESPACE },
    })
    .catch(() => null);
  const status = (claim?.status as { phase?: string } | undefined)?.phase;
  if (!claim || status !== 'Pending') return undefined;
  const storageClass = (claim.spec as { storageClassName?: string } | undefined)?.storageClassName;
  return new ClusterError(
    client.cluster.context,
    `the SPIRE server's volume claim ${SPIRE_NAMESPACE}/${claim.metadata.name} is still Pending (${storageClass ? `StorageClass '${storageClass}'` : 'no StorageClass named, and the cluster may have no default one'}). Set 'spire-storage-class' to a StorageClass this cluster has (kubectl get storageclass), or to 'none' to run the server without a volume.`,
  );
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
    const records = await applyInOrder(
      client,
      rendered.objects.filter((o) => !exposedFirst(o)),
    );
    await waitForRollouts(client, rendered.objects).catch(async (error: unknown) => {
      throw (await pendingServerClaim(client)) ?? error;
    });
    log('SPIRE server and agents are ready');
    return { records };
  });
  if (anyFailed(install)) return mergeOutcomes([expose, install]);
  // A failed exchange is reported per cluster, with what was installed above.
  return mergeOutcomes([expose, install, await exchangeBundles(ctx)]);
}
