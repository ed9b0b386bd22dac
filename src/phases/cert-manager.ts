// Seed: cert-manager/install-cert-manager.sh. Installs cert-manager from its
// release manifest, waits until its webhook answers, then creates the mesh's
// root CA, the CA issuer SPIRE signs with, and istiod's `cacerts`.
import { fetchCertManagerRelease } from '../tools/cert-manager.ts';
import { labelObject, renderPhase, toYaml } from '../render/index.ts';
import { applyInOrder } from '../cluster/apply.ts';
import { waitForRollouts } from '../cluster/rollout.ts';
import type { ClusterApi } from '../cluster/api.ts';
import { ClusterError, describeError, isTransient } from '../cluster/errors.ts';
import { isOurs } from '../cluster/ownership.ts';
import type { CertManagerMode } from '../config/config.ts';
import { once } from '../once.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { CERT_MANAGER_NAMESPACE } from '../model/names.ts';
import { conditionTrue } from '../model/conditions.ts';
import { onEachCluster } from './per-cluster.ts';
import type { RunContext } from './types.ts';
import type { ClusterOutcome } from '../model/results.ts';

const CERTIFICATE_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'certificates.cert-manager.io' },
};

/** An object only the webhook can admit; created with dryRun so nothing is stored. */
const PROBE_ISSUER: K8sObject = {
  apiVersion: 'cert-manager.io/v1',
  kind: 'Issuer',
  metadata: { name: 'mesh-federation-webhook-probe', namespace: CERT_MANAGER_NAMESPACE },
  spec: { selfSigned: {} },
};

/**
 * `helm --wait` is not enough: the webhook can refuse calls for a while after
 * its pod is Ready. A refused call is a 500 from the API server: asked again
 * with backoff until the timeout.
 */
export async function waitForWebhook(client: ClusterApi): Promise<number> {
  const started = Date.now();
  await client.until('the cert-manager webhook answers a dry-run Issuer', async () => {
    try {
      await client.dryRunCreate(PROBE_ISSUER);
      return { value: true };
    } catch (error) {
      if (isTransient(error)) return { pending: describeError(error) };
      throw error;
    }
  });
  return Date.now() - started;
}

const certificateReady = (o: K8sObject): boolean => conditionTrue(o, 'Ready');

/** What a cluster already runs, judged by cert-manager's Certificate CRD and its controller. */
export type CertManagerFound =
  | { state: 'absent' }
  | { state: 'ours' }
  | { state: 'foreign'; namespace?: string; version?: string };

export async function findCertManager(client: ClusterApi): Promise<CertManagerFound> {
  const crd = await client.read(CERTIFICATE_CRD);
  if (!crd) return { state: 'absent' };
  if (isOurs(crd)) return { state: 'ours' };
  const [controller] = await client.list('apps/v1', 'Deployment', {
    labelSelector: 'app.kubernetes.io/name=cert-manager,app.kubernetes.io/component=controller',
  });
  const version = controller?.metadata.labels?.['app.kubernetes.io/version'];
  return {
    state: 'foreign',
    ...(controller?.metadata.namespace ? { namespace: controller.metadata.namespace } : {}),
    ...(version ? { version } : {}),
  };
}

/** Install our release, use what is there, or refuse (the reason names the input and the fix). */
export function certManagerPlan(
  mode: CertManagerMode,
  found: CertManagerFound,
): { action: 'install' } | { action: 'use-existing'; note: string } | { refuse: string } {
  if (found.state === 'foreign' && found.namespace && found.namespace !== CERT_MANAGER_NAMESPACE)
    return {
      refuse: `found cert-manager in namespace '${found.namespace}'; the mesh's root CA secret must live in cert-manager's cluster resource namespace, which mesh-federation expects to be '${CERT_MANAGER_NAMESPACE}'. Install cert-manager there, or remove it and use cert-manager-mode: install.`,
    };
  if (found.state === 'foreign') {
    if (mode === 'install')
      return {
        refuse: `cert-manager is already installed here, not by mesh-federation (${describeFound(found)}). Set cert-manager-mode: existing (or auto) to use it; the action never takes over or deletes it.`,
      };
    return {
      action: 'use-existing',
      note: `using the cert-manager already installed (${describeFound(found)}); not installed by mesh-federation, left alone`,
    };
  }
  if (mode === 'existing') {
    if (found.state === 'ours')
      return {
        action: 'use-existing',
        note: 'using the cert-manager mesh-federation installed earlier',
      };
    return {
      refuse: `cert-manager-mode is 'existing' but this cluster has no cert-manager (no CustomResourceDefinition ${CERTIFICATE_CRD.metadata.name}). Install cert-manager first, or set cert-manager-mode: auto.`,
    };
  }
  return { action: 'install' };
}

function describeFound(found: { namespace?: string; version?: string }): string {
  return [
    found.version ? `version ${found.version}` : 'version unknown',
    `namespace ${found.namespace ?? 'unknown'}`,
  ].join(', ');
}

export async function runCertManager(ctx: RunContext): Promise<ClusterOutcome[]> {
  const { config } = ctx;
  // Fetched (and checksummed) once, and only when some cluster installs it.
  const release = once(async () =>
    (await fetchCertManagerRelease(config.versions.certManager, config.certManagerBaseUrl)).map(
      (o) => labelObject(o, 'cert-manager'),
    ),
  );

  return onEachCluster('cert-manager', ctx.clients, async (client, log, records) => {
    const rendered = renderPhase(config, 'cert-manager', client.cluster);
    const plan = certManagerPlan(config.certManagerMode, await findCertManager(client));
    if ('refuse' in plan) throw new ClusterError(client.cluster.context, plan.refuse);
    const installed = plan.action === 'install' ? await release() : [];
    ctx.writeManifest(
      client.cluster.context,
      'cert-manager',
      toYaml([...installed, ...rendered.objects]),
    );

    const notes: string[] = [];
    if (plan.action === 'install') {
      records.push(...(await applyInOrder(client, installed)));
      log(`applied cert-manager ${config.versions.certManager} (${installed.length} objects)`);
      await waitForRollouts(client, installed);
      log(`cert-manager deployments are ready`);
      notes.push(`cert-manager ${config.versions.certManager}`);
    } else {
      log(plan.note);
      notes.push(plan.note);
    }
    const webhookMs = await waitForWebhook(client);
    log(`the cert-manager webhook answers (after ${webhookMs} ms)`);
    notes.push(`webhook answered after ${webhookMs} ms`);
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
    return { records, notes };
  });
}
