// One run at a time per cluster: a Lease taken before the first change and
// released at the end, renewed while the run works. A second run waits for it
// (within its timeout), naming the run that holds it; a Lease its holder
// stopped renewing (a runner killed half-way) is taken over once it expired.
import type { ClusterApi } from './api.ts';
import { RUN_LOCK } from '../model/names.ts';
import type { K8sObject } from '../model/k8s-object.ts';

export interface RunHolder {
  /** Unique per run: two runs never share it. */
  id: string;
  /** What a person reads in the other run's message: which workflow run holds the lock. */
  description: string;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
}

// Like leader election's 15 s lease and 10 s renew deadline, with room for a busy runner: a run
// killed half-way (a cancelled job) holds up the next one for at most 30 s.
const LEASE_SECONDS = 30;
const RENEW_EVERY_MS = 10_000;

const spec = (o: K8sObject): LeaseSpec => (o.spec ?? {}) as LeaseSpec;

function lease(holder: RunHolder, now: Date, base?: K8sObject): K8sObject {
  const time = now.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  const previous = base && spec(base).holderIdentity === holder.id ? spec(base) : undefined;
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: RUN_LOCK.name,
      namespace: RUN_LOCK.namespace,
      annotations: { [RUN_LOCK.holderAnnotation]: holder.description },
      ...(base?.metadata.resourceVersion ? { resourceVersion: base.metadata.resourceVersion } : {}),
    },
    spec: {
      holderIdentity: holder.id,
      leaseDurationSeconds: LEASE_SECONDS,
      acquireTime: previous?.acquireTime ?? time,
      renewTime: time,
    },
  };
}

/** A lock its holder stopped renewing for longer than it promised. */
export function expired(o: K8sObject, now: Date): boolean {
  const { renewTime, leaseDurationSeconds } = spec(o);
  if (!renewTime) return true;
  return Date.parse(renewTime) + (leaseDurationSeconds ?? LEASE_SECONDS) * 1000 < now.getTime();
}

const heldBy = (o: K8sObject): string =>
  `${o.metadata.annotations?.[RUN_LOCK.holderAnnotation] ?? spec(o).holderIdentity ?? 'another run'} (since ${spec(o).acquireTime ?? '?'})`;

export interface HeldLock {
  /** Gives the lock back; says what went wrong with it, if anything did. */
  release(): Promise<string | undefined>;
}

const REF = {
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: RUN_LOCK.name, namespace: RUN_LOCK.namespace },
};

/** Waits (within the client's timeout) until this run holds the cluster's lock. */
export async function acquireRunLock(
  client: ClusterApi,
  holder: RunHolder,
  log: (line: string) => void,
): Promise<HeldLock> {
  let said = '';
  let current = await client.until<K8sObject>(
    'no other mesh-federation run holds this cluster',
    async () => {
      const now = new Date();
      const found = await client.read(REF);
      if (found && spec(found).holderIdentity !== holder.id && !expired(found, now)) {
        const who = heldBy(found);
        if (who !== said) log(`waiting: the cluster is locked by ${who}`);
        said = who;
        return { pending: `locked by ${who}` };
      }
      const written = found
        ? await client.replace(lease(holder, now, found))
        : await client.create(lease(holder, now));
      return written === 'conflict'
        ? { pending: 'another run took the lock meanwhile' }
        : { value: written };
    },
  );
  log(`holding the run lock ${RUN_LOCK.namespace}/${RUN_LOCK.name}`);
  let lost: string | undefined;
  let renewing: Promise<void> = Promise.resolve();
  const renewal = setInterval(() => {
    renewing = client
      .replace(lease(holder, new Date(), current))
      .then((written) => {
        if (written === 'conflict') lost = 'another run took it over';
        else current = written;
      })
      .catch(() => {
        // A missed renewal is tried again at the next tick; the lease outlasts several.
      });
  }, RENEW_EVERY_MS);
  renewal.unref();
  return {
    async release() {
      clearInterval(renewal);
      await renewing;
      if (lost) return `lost the run lock while running: ${lost}`;
      const rv = current.metadata.resourceVersion;
      if (rv && (await client.deleteIfUnchanged(REF, rv)) === 'conflict')
        return 'the run lock changed under this run; left for its new holder';
      return undefined;
    },
  };
}
