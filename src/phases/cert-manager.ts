// Seed: cert-manager/install-cert-manager.sh. Installs cert-manager from its
// release manifest, waits until its webhook answers, then creates the mesh's
// root CA, the CA issuer SPIRE signs with, and istiod's `cacerts`.
import { fetchCertManagerManifest } from '../tools/cert-manager.ts';
import { labelObject, renderPhase, toYaml } from '../render/index.ts';
import { parseObjects } from '../yaml-docs.ts';
import { applyInOrder } from '../cluster/apply.ts';
import { waitForRollouts } from '../cluster/rollout.ts';
import type { ClusterClient } from '../cluster/client.ts';
import type { K8sObject } from '../k8s-object.ts';
import { CERT_MANAGER_NAMESPACE } from '../names.ts';
import { onEachCluster } from './per-cluster.ts';
import type { ClusterOutcome, RunContext } from './types.ts';

/** An object only the webhook can admit; created with dryRun so nothing is stored. */
const PROBE_ISSUER: K8sObject = {
  apiVersion: 'cert-manager.io/v1',
  kind: 'Issuer',
  metadata: { name: 'mesh-federation-webhook-probe', namespace: CERT_MANAGER_NAMESPACE },
  spec: { selfSigned: {} },
};

/**
 * `helm --wait` is not enough: the webhook can refuse calls for a while after
 * its pod is Ready. A refused call is a 500 from the API server, which the
 * client retries with backoff until the timeout.
 */
export async function waitForWebhook(client: ClusterClient): Promise<number> {
  const started = Date.now();
  await client.retry('call the cert-manager webhook (dry-run Issuer)', () =>
    client.dryRunCreate(PROBE_ISSUER),
  );
  return Date.now() - started;
}

function certificateReady(o: K8sObject): boolean {
  const conditions =
    (o.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

export async function runCertManager(ctx: RunContext): Promise<ClusterOutcome[]> {
  const { config } = ctx;
  const release = parseObjects(
    await fetchCertManagerManifest(config.versions.certManager, config.certManagerBaseUrl),
    `cert-manager ${config.versions.certManager} release manifest`,
  ).map((o) => labelObject(o, 'cert-manager'));

  return onEachCluster('cert-manager', ctx.clients, async (client, log) => {
    const rendered = renderPhase(config, 'cert-manager', client.cluster, ctx.facts);
    ctx.writeManifest(
      client.cluster.context,
      'cert-manager',
      toYaml([...release, ...rendered.objects]),
    );

    const records = await applyInOrder(client, release);
    log(`applied cert-manager ${config.versions.certManager} (${release.length} objects)`);
    await waitForRollouts(client, release);
    log(`cert-manager deployments are ready`);
    const webhookMs = await waitForWebhook(client);
    log(`the cert-manager webhook answers (after ${webhookMs} ms)`);

    records.push(...(await applyInOrder(client, rendered.objects)));
    const certificates = rendered.objects.filter((o) => o.kind === 'Certificate');
    await Promise.all(
      certificates.map((c) =>
        client.waitFor(c, certificateReady, (o) => {
          const conditions = (
            o?.status as { conditions?: { type: string; message?: string }[] } | undefined
          )?.conditions;
          return conditions?.find((x) => x.type === 'Ready')?.message ?? 'not issued yet';
        }),
      ),
    );
    log(
      `certificates issued: ${certificates.map((c) => `${c.metadata.namespace}/${c.metadata.name}`).join(', ')}`,
    );
    return {
      records,
      notes: [
        `cert-manager ${config.versions.certManager}; webhook answered after ${webhookMs} ms`,
      ],
    };
  });
}
