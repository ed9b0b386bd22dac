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
 * Whether istiod's log names the certificate with serial `serialHex`. istiod
 * prints serials as `SN: %x` of the big integer, so without the leading zeros
 * that X509Certificate.serialNumber keeps (about 1 serial in 16 starts with a
 * zero nibble); some versions print decimal. Serials are compared as numbers.
 */
export function logNamesSerial(log: string, serialHex: string): boolean {
  const wanted = BigInt(`0x${serialHex}`);
  for (const m of log.matchAll(/\b(?:SN|serial(?: ?number)?)\s*[:=]\s*(?:0x)?([0-9a-fA-F:]+)/gi)) {
    const hex = (m[1] as string).replace(/:/g, '');
    if (hex !== '' && BigInt(`0x${hex}`) === wanted) return true;
  }
  const decimal = wanted.toString(10);
  return new RegExp(`(^|\\D)${decimal}(\\D|$)`).test(log);
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
