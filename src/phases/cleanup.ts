// Seed: delete-helloworld.sh, cleanup-istio.sh, cleanup-spire.sh,
// cleanup-cert-manager.sh. Deletes only what carries our label, phase by
// phase in reverse install order: workloads before the CSI driver they mount,
// Istio before SPIRE, SPIRE before cert-manager. Already gone is success.
import type { ClusterApi } from '../cluster/api.ts';
import type { ApplyRecord } from '../model/results.ts';
import { mapLimit } from '../cluster/apply.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, PHASE_LABEL } from '../config/config.ts';
import { objectRef, type K8sObject } from '../model/k8s-object.ts';
import { deleteRank } from '../model/kinds.ts';
import { ISTIO_NAMESPACE } from '../model/names.ts';
import { onEachCluster } from './per-cluster.ts';
import type { RunContext } from './types.ts';
import type { ClusterOutcome } from '../model/results.ts';

// 'verify' owns the north-south Gateway and VirtualService.
const PHASE_ORDER = ['verify', 'examples', 'istio', 'spire', 'cert-manager'];

const SPIFFE_CSI_DRIVER = 'csi.spiffe.io';
/** istiod writes this ConfigMap (the mesh's root certificate) into every namespace. */
const ISTIO_ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';

interface PodVolumes {
  spec?: { volumes?: { csi?: { driver?: string } }[] };
}

/** Pods whose volumes come from `driver`: the kubelet needs the driver to unmount them. */
export function podsMountingDriver(pods: K8sObject[], driver: string): string[] {
  return pods
    .filter((p) => ((p as PodVolumes).spec?.volumes ?? []).some((v) => v.csi?.driver === driver))
    .map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
}

interface RoleRules {
  rules?: { apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }[];
}

/**
 * Leader-election Leases an installed component holds, read from the Roles it
 * was installed with (cert-manager's release names them in `resourceNames`):
 * the Leases are created at run time, carry no label, and outlive the install.
 */
export function leasesNamedByRoles(roles: K8sObject[]): { namespace: string; name: string }[] {
  return roles.flatMap((role) =>
    ((role as RoleRules).rules ?? [])
      .filter(
        (r) => r.apiGroups?.includes('coordination.k8s.io') && r.resources?.includes('leases'),
      )
      .flatMap((r) => r.resourceNames ?? [])
      .map((name) => ({ namespace: role.metadata.namespace ?? '', name })),
  );
}

/**
 * The SPIRE phase removes the CSI driver the gateways and sidecars mount: a
 * pod still mounting it when the driver goes can never be unmounted, and its
 * namespace never goes away. So wait for every such pod first; a pod the
 * action did not create is named and stops the cleanup before it breaks it.
 */
async function waitForCsiPodsGone(client: ClusterApi): Promise<void> {
  await client.until(`no pod mounts ${SPIFFE_CSI_DRIVER}`, async () => {
    const left = podsMountingDriver(await client.list('v1', 'Pod'), SPIFFE_CSI_DRIVER);
    return left.length === 0
      ? { value: true }
      : {
          pending: `still mounted by ${left.slice(0, 5).join(', ')}${left.length > 5 ? ` (+${left.length - 5} more)` : ''}; delete these pods (or the workloads that own them) before cleanup`,
        };
  });
}

const OWNED = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
const ownedBy = (phase: string): string => `${OWNED},${PHASE_LABEL}=${phase}`;

async function deleteAll(client: ClusterApi, objects: K8sObject[]): Promise<ApplyRecord[]> {
  const deleted = await mapLimit(objects, 6, async (o) => ({
    ref: objectRef(o),
    result: await client.delete(o),
  }));
  return deleted
    .filter((d) => d.result === 'deleted')
    .map((d) => ({ ref: d.ref, action: 'deleted' as const }));
}

/**
 * What our istiod wrote into namespaces it never owned. istiod re-creates a
 * deleted one while it runs, so its pods must be gone first.
 */
async function deleteIstioRootCerts(client: ClusterApi): Promise<ApplyRecord[]> {
  await client.until('istiod has stopped', async () => {
    const pods = await client.list('v1', 'Pod', {
      namespace: ISTIO_NAMESPACE,
      labelSelector: 'app=istiod',
    });
    return pods.length === 0
      ? { value: true }
      : { pending: `istiod pods still running: ${pods.map((p) => p.metadata.name).join(', ')}` };
  });
  const found = await client.list('v1', 'ConfigMap', {
    fieldSelector: `metadata.name=${ISTIO_ROOT_CERT_CONFIGMAP}`,
  });
  return deleteAll(client, found);
}

/**
 * Everything that carries our label, of every kind the cluster serves, by the
 * phase that made it. Objects a controller made from ours (they name an
 * owner) go with their owner.
 */
async function ownedByPhase(client: ClusterApi): Promise<Map<string, K8sObject[]>> {
  const kinds = (await client.servedKinds()).filter((k) => k.kind !== 'Event');
  const found = await mapLimit(kinds, 8, async ({ apiVersion, kind }) =>
    (await client.list(apiVersion, kind, { labelSelector: OWNED })).map((o) => ({
      apiVersion,
      kind,
      metadata: o.metadata,
    })),
  );
  const byPhase = new Map<string, K8sObject[]>();
  for (const o of found.flat()) {
    if ((o.metadata.ownerReferences as unknown[] | undefined)?.length) continue;
    const phase = o.metadata.labels?.[PHASE_LABEL] ?? '';
    byPhase.set(phase, [...(byPhase.get(phase) ?? []), o]);
  }
  return byPhase;
}

/** Kinds whose deletion ends later, behind a finalizer (a Namespace's content, a CRD's resources). */
const LINGERING_KINDS = new Set(['Namespace', 'CustomResourceDefinition']);

/** A phase's objects in reverse apply order, one rank at a time. */
async function deletePhase(client: ClusterApi, objects: K8sObject[]): Promise<ApplyRecord[]> {
  const ranks = [...new Set(objects.map(deleteRank))].sort((a, b) => a - b);
  const records: ApplyRecord[] = [];
  for (const rank of ranks)
    records.push(
      ...(await deleteAll(
        client,
        objects
          .filter((o) => deleteRank(o) === rank)
          .map((o) => ({
            apiVersion: o.apiVersion,
            kind: o.kind,
            metadata: { name: o.metadata.name, namespace: o.metadata.namespace },
          })),
      )),
    );
  // Namespaces go last: wait until they are really gone so the next phase's
  // deletions (the CSI driver, the CA) never pull the floor from under a pod.
  // CRDs too (their finalizer deletes every custom resource first): a run right
  // after a cleanup finds nothing half-deleted.
  const deleted = new Set(records.map((r) => r.ref));
  await Promise.all(
    objects
      .filter((o) => LINGERING_KINDS.has(o.kind) && deleted.has(objectRef(o)))
      .map((o) => client.waitForGone(o)),
  );
  return records;
}

export async function runCleanup(ctx: RunContext): Promise<ClusterOutcome[]> {
  return onEachCluster('cleanup', ctx.clients, async (client, log) => {
    const records: ApplyRecord[] = [];
    const owned = await ownedByPhase(client);
    for (const phase of PHASE_ORDER) {
      if (phase === 'spire') await waitForCsiPodsGone(client);
      // Read before the phase's objects go: afterwards nothing says what they caused.
      const ourIstiod =
        phase === 'istio' &&
        (
          await client.list('apps/v1', 'Deployment', {
            namespace: ISTIO_NAMESPACE,
            labelSelector: `${ownedBy('istio')},app=istiod`,
          })
        ).length > 0;
      const leases =
        phase === 'cert-manager'
          ? leasesNamedByRoles(
              await client.list('rbac.authorization.k8s.io/v1', 'Role', {
                labelSelector: ownedBy('cert-manager'),
              }),
            )
          : [];
      const deleted = await deletePhase(client, owned.get(phase) ?? []);
      if (ourIstiod) deleted.push(...(await deleteIstioRootCerts(client)));
      deleted.push(
        ...(await deleteAll(
          client,
          leases.map((l) => ({
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: l,
          })),
        )),
      );
      log(`${phase}: deleted ${deleted.length} objects`);
      records.push(...deleted);
    }
    return { records, notes: [`deleted ${records.length} objects`] };
  });
}
