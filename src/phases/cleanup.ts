// Seed: delete-helloworld.sh, cleanup-istio.sh, cleanup-spire.sh,
// cleanup-cert-manager.sh. Deletes only what carries our label, phase by
// phase in reverse install order: workloads before the CSI driver they mount,
// Istio before SPIRE, SPIRE before cert-manager. Already gone is success.
import type { ClusterClient, ApplyRecord } from '../cluster/client.ts';
import { mapLimit } from '../cluster/apply.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, PHASE_LABEL } from '../config.ts';
import { objectRef, type K8sObject } from '../k8s-object.ts';
import { onEachCluster } from './per-cluster.ts';
import type { ClusterOutcome, RunContext } from './types.ts';

/** Kinds the action creates; namespaced kinds first, then cluster-scoped, namespaces last. */
export const CLEANUP_KINDS: [apiVersion: string, kind: string][] = [
  ['networking.istio.io/v1beta1', 'Gateway'],
  ['networking.istio.io/v1beta1', 'VirtualService'],
  ['networking.istio.io/v1beta1', 'DestinationRule'],
  ['security.istio.io/v1beta1', 'PeerAuthentication'],
  ['cert-manager.io/v1', 'Certificate'],
  ['cert-manager.io/v1', 'Issuer'],
  ['cert-manager.io/v1', 'ClusterIssuer'],
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'StatefulSet'],
  ['apps/v1', 'DaemonSet'],
  ['batch/v1', 'Job'],
  ['v1', 'Service'],
  ['v1', 'ConfigMap'],
  ['v1', 'Secret'],
  ['v1', 'ServiceAccount'],
  ['rbac.authorization.k8s.io/v1', 'Role'],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
  ['policy/v1', 'PodDisruptionBudget'],
  ['autoscaling/v2', 'HorizontalPodAutoscaler'],
  ['admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration'],
  ['admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRole'],
  ['storage.k8s.io/v1', 'CSIDriver'],
  ['apiextensions.k8s.io/v1', 'CustomResourceDefinition'],
  ['v1', 'Namespace'],
];

// 'verify' owns the north-south Gateway and VirtualService.
const PHASE_ORDER = ['verify', 'examples', 'istio', 'spire', 'cert-manager'];

async function deletePhase(client: ClusterClient, phase: string): Promise<ApplyRecord[]> {
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${PHASE_LABEL}=${phase}`;
  const records: ApplyRecord[] = [];
  for (const [apiVersion, kind] of CLEANUP_KINDS) {
    const found = await client.list(apiVersion, kind, { labelSelector: selector });
    const deleted = await mapLimit(found, 6, async (o: K8sObject) => {
      const header = {
        apiVersion,
        kind,
        metadata: { name: o.metadata.name, namespace: o.metadata.namespace },
      };
      return { ref: objectRef(header as K8sObject), result: await client.delete(header) };
    });
    for (const d of deleted)
      if (d.result === 'deleted') records.push({ ref: d.ref, action: 'deleted' });
  }
  // Namespaces go last: wait until they are really gone so the next phase's
  // deletions (the CSI driver, the CA) never pull the floor from under a pod.
  await Promise.all(
    records
      .filter((r) => r.ref.startsWith('Namespace/'))
      .map((r) =>
        client.waitForGone({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: r.ref.slice('Namespace/'.length) },
        }),
      ),
  );
  return records;
}

export async function runCleanup(ctx: RunContext): Promise<ClusterOutcome[]> {
  return onEachCluster('cleanup', ctx.clients, async (client, log) => {
    const records: ApplyRecord[] = [];
    for (const phase of PHASE_ORDER) {
      const deleted = await deletePhase(client, phase);
      log(`${phase}: deleted ${deleted.length} objects`);
      records.push(...deleted);
    }
    return { records, notes: [`deleted ${records.length} objects`] };
  });
}
