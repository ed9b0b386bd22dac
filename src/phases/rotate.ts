// Seed: "Setting Up Automatic Certificate Rotation". Applies the `cacerts`
// Certificate with the rotation duration and renew-before, asks cert-manager
// to re-issue now (the status condition `cmctl renew` sets), waits for the new
// certificate, and checks that istiod picked it up.
import { renderCacertsCertificate } from '../render/index.ts';
import type { ClusterApi } from '../cluster/api.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { CACERTS, ISTIO_NAMESPACE } from '../model/names.ts';
import type { Check } from '../model/check.ts';
import { conditionTrue, conditionsOf } from '../model/conditions.ts';
import { analyzeRotation } from '../analyze/rotation.ts';
import { onEachCluster } from './per-cluster.ts';
import type { RunContext } from './types.ts';
import type { ClusterOutcome } from '../model/results.ts';

const revision = (o: K8sObject | null): number =>
  (o?.status as { revision?: number } | undefined)?.revision ?? 0;

async function servingCertificate(client: ClusterApi): Promise<string | undefined> {
  const secret = await client.read({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: CACERTS.name, namespace: CACERTS.namespace },
  });
  return ((secret?.data ?? {}) as Record<string, string>)['tls.crt'];
}

/** istiod (with AUTO_RELOAD_PLUGIN_CERTS, or after a restart) logs the CA certificate it loads. */
async function istiodLogs(client: ClusterApi, sinceSeconds: number): Promise<string[]> {
  const pods = await client.list('v1', 'Pod', {
    namespace: ISTIO_NAMESPACE,
    labelSelector: 'app=istiod',
  });
  return Promise.all(
    pods.map((pod) => client.podLog(ISTIO_NAMESPACE, pod.metadata.name, 'discovery', sinceSeconds)),
  );
}

export async function runRotate(
  ctx: RunContext,
): Promise<{ outcomes: ClusterOutcome[]; checks: Check[] }> {
  const checks: Check[] = [];
  const outcomes = await onEachCluster('rotate', ctx.clients, async (client, log) => {
    const { duration, renewBefore } = ctx.config.rotation;
    const certificate = renderCacertsCertificate(client.cluster, duration, renewBefore);
    const oldCertificate = await servingCertificate(client);
    const startedAt = Date.now();
    const record = await client.applyOne(certificate);
    const issued = revision(await client.read(certificate));
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
      (o) => revision(o) > issued && conditionTrue(o, 'Ready'),
      (o) => conditionsOf(o).find((c) => c.type === 'Ready')?.message ?? 'not re-issued yet',
    );
    const newCertificate = await servingCertificate(client);
    const sinceSeconds = Math.ceil((Date.now() - startedAt) / 1000) + 60;
    const logs = await istiodLogs(client, sinceSeconds).catch(() => []);
    const rotation = analyzeRotation({
      cluster: client.cluster.context,
      oldCertificate,
      newCertificate,
      istiodLogs: logs,
    });
    const newSerial = rotation.newSerial;
    log(
      `cacerts re-issued (duration ${duration}, renew before ${renewBefore}): serial ${rotation.oldSerial ?? 'none'} -> ${newSerial}`,
    );
    checks.push(...rotation.checks);
    return { records: [record], notes: [`serial ${newSerial}`] };
  });
  return { outcomes, checks };
}
