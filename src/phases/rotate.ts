// Seed: "Setting Up Automatic Certificate Rotation". Applies the `cacerts`
// Certificate with the rotation duration and renew-before, asks cert-manager
// to re-issue now (the status condition `cmctl renew` sets), waits for the new
// certificate, and checks that istiod picked it up.
import { X509Certificate } from 'node:crypto';
import { renderCacertsCertificate } from '../render/index.ts';
import type { ClusterClient } from '../cluster/client.ts';
import type { K8sObject } from '../k8s-object.ts';
import { CACERTS, ISTIO_NAMESPACE } from '../names.ts';
import { failed, passed, type Check } from '../verify/check.ts';
import { onEachCluster } from './per-cluster.ts';
import type { ClusterOutcome, RunContext } from './types.ts';

interface CertificateStatus {
  revision?: number;
  conditions?: { type: string; status: string; message?: string }[];
}

const status = (o: K8sObject | null): CertificateStatus => (o?.status ?? {}) as CertificateStatus;
const ready = (o: K8sObject): boolean =>
  (status(o).conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

async function servingSerial(client: ClusterClient): Promise<string | undefined> {
  const secret = await client.read({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: CACERTS.name, namespace: CACERTS.namespace },
  });
  const pem = ((secret?.data ?? {}) as Record<string, string>)['tls.crt'];
  return pem ? new X509Certificate(Buffer.from(pem, 'base64')).serialNumber : undefined;
}

/**
 * A serial after its label: `SN: b5f3…` (istiod, Go's `%x`), `serial=0B5F…`,
 * `Serial Number: 0b:5f:…` (openssl), `serial 0x…` or decimal. The lookbehind
 * skips a `SERIALNUMBER=` attribute inside a quoted DN, which names no certificate.
 */
const SERIAL_TOKEN =
  /(?<![",+])\b(?:SN|serial(?:[ _-]?number)?)\s*[:=]?\s*(0x[0-9a-f]+|[0-9a-f]{2}(?::[0-9a-f]{2})+|[0-9a-f]+)(?![0-9a-z])/gi;

/** Every number a labelled serial token can mean: all digits may be hex (`%x`) or decimal. */
function tokenValues(token: string): bigint[] {
  const hex = BigInt(`0x${token.replace(/^0x/i, '').replace(/:/g, '')}`);
  return /^[0-9]+$/.test(token) && BigInt(token) !== hex ? [hex, BigInt(token)] : [hex];
}

/** The serial numbers a log names, in order, as numbers (so leading zeros and case do not matter). */
export function serialNumbersIn(log: string): bigint[] {
  return [...log.matchAll(SERIAL_TOKEN)].flatMap((m) => tokenValues(m[1] as string));
}

/**
 * Whether a log names the certificate with serial `serialHex` (as
 * X509Certificate.serialNumber gives it: whole bytes, so about one serial in
 * 16 starts with a zero that istiod's `SN: %x` leaves out). Only labelled
 * tokens count: a bare number elsewhere (`Added 1 certs`) is no serial.
 */
export function logNamesSerial(log: string, serialHex: string): boolean {
  const wanted = BigInt(`0x${serialHex}`);
  return serialNumbersIn(log).includes(wanted);
}

/** istiod (with AUTO_RELOAD_PLUGIN_CERTS, or after a restart) logs the CA certificate it loads. */
async function istiodSawSerial(
  client: ClusterClient,
  serialHex: string,
  sinceSeconds: number,
): Promise<boolean> {
  const pods = await client.list('v1', 'Pod', {
    namespace: ISTIO_NAMESPACE,
    labelSelector: 'app=istiod',
  });
  for (const pod of pods) {
    const log = await client.podLog(ISTIO_NAMESPACE, pod.metadata.name, 'discovery', sinceSeconds);
    if (logNamesSerial(log, serialHex)) return true;
  }
  return false;
}

export async function runRotate(
  ctx: RunContext,
): Promise<{ outcomes: ClusterOutcome[]; checks: Check[] }> {
  const checks: Check[] = [];
  const outcomes = await onEachCluster('rotate', ctx.clients, async (client, log) => {
    const { duration, renewBefore } = ctx.config.rotation;
    const certificate = renderCacertsCertificate(ctx.config, client.cluster, duration, renewBefore);
    const oldSerial = await servingSerial(client);
    const startedAt = Date.now();
    const record = await client.applyOne(certificate);
    const revision = status(await client.read(certificate)).revision ?? 0;
    await client.patchStatus(certificate, {
      conditions: [
        {
          type: 'Issuing',
          status: 'True',
          reason: 'ManuallyTriggered',
          message: 'Certificate re-issuance requested by mesh-federation rotate',
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    });
    await client.waitFor(
      certificate,
      (o) => (status(o).revision ?? 0) > revision && ready(o),
      (o) => status(o).conditions?.find((c) => c.type === 'Ready')?.message ?? 'not re-issued yet',
    );
    const newSerial = await servingSerial(client);
    log(
      `cacerts re-issued (duration ${duration}, renew before ${renewBefore}): serial ${oldSerial ?? 'none'} -> ${newSerial}`,
    );
    const cluster = client.cluster.context;
    if (!newSerial || newSerial === oldSerial)
      checks.push(
        failed('rotation', cluster, 'the cacerts secret still holds the old certificate'),
      );
    else checks.push(passed('rotation', cluster, `cacerts re-issued with serial ${newSerial}`));
    const sinceSeconds = Math.ceil((Date.now() - startedAt) / 1000) + 60;
    const picked = newSerial
      ? await istiodSawSerial(client, newSerial, sinceSeconds).catch(() => false)
      : false;
    checks.push(
      picked
        ? passed('istiod-pickup', cluster, `istiod logged the new CA certificate ${newSerial}`)
        : failed(
            'istiod-pickup',
            cluster,
            `istiod did not log the new CA certificate ${newSerial ?? ''} (is AUTO_RELOAD_PLUGIN_CERTS enabled?)`,
          ),
    );
    return { records: [record], notes: [`serial ${newSerial}`] };
  });
  return { outcomes, checks };
}
