// After a failure (or when asked): what a person needs to find the cause
// without re-running, read from each cluster. Best effort: what cannot be read
// is recorded as such, and gathering never fails the run. Secrets are never
// read; the report redacts what it writes (report/diagnostics.ts).
import type { ClusterApi } from '../cluster/api.ts';
import { spireRead } from '../cluster/spire-cli.ts';
import { describeError } from '../cluster/errors.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../config/config.ts';
import { conditionTrue } from '../model/conditions.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import {
  CERT_MANAGER_NAMESPACE,
  EXAMPLES,
  ISTIO_NAMESPACE,
  SPIRE_NAMESPACE,
  SPIRE_SERVER,
} from '../model/names.ts';
import type { ClusterDiagnostics, PodLog } from '../model/diagnostics.ts';
import type { RunContext } from './types.ts';

const NAMESPACES = [
  CERT_MANAGER_NAMESPACE,
  SPIRE_NAMESPACE,
  ISTIO_NAMESPACE,
  EXAMPLES.helloworld.namespace,
  EXAMPLES.sleep.namespace,
  EXAMPLES.bookinfo.namespace,
];
const WORKLOADS = ['Deployment', 'DaemonSet', 'StatefulSet'];
/** The components whose recent logs say most: istiod, the SPIRE server and agents, cert-manager. */
const LOGS: { namespace: string; selector: string; container?: string }[] = [
  { namespace: ISTIO_NAMESPACE, selector: 'app=istiod', container: 'discovery' },
  { namespace: SPIRE_NAMESPACE, selector: 'app=spire-server', container: SPIRE_SERVER.container },
  { namespace: SPIRE_NAMESPACE, selector: 'app=spire-agent' },
  { namespace: CERT_MANAGER_NAMESPACE, selector: 'app.kubernetes.io/instance=cert-manager' },
];
const LOG_SECONDS = 3600;
const LOG_LINES = 300;

interface Replicas {
  spec?: { replicas?: number };
  status?: {
    replicas?: number;
    readyReplicas?: number;
    desiredNumberScheduled?: number;
    numberReady?: number;
  };
}

/** A workload whose ready count is short of what it wants. */
function notReady(o: K8sObject): boolean {
  const { spec, status } = o as Replicas;
  if (o.kind === 'DaemonSet')
    return (status?.numberReady ?? 0) < (status?.desiredNumberScheduled ?? 1);
  return (status?.readyReplicas ?? 0) < (spec?.replicas ?? 1);
}

const podNotReady = (p: K8sObject): boolean =>
  (p.status as { phase?: string } | undefined)?.phase !== 'Succeeded' && !conditionTrue(p, 'Ready');

async function gatherCluster(client: ClusterApi): Promise<ClusterDiagnostics> {
  const errors: string[] = [];
  const attempt = async <T>(what: string, fn: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      errors.push(`${what}: ${describeError(error)}`);
      return fallback;
    }
  };
  const owned = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
  const workloads = (
    await Promise.all(
      WORKLOADS.map((kind) =>
        attempt(`list ${kind}`, () => client.list('apps/v1', kind, { labelSelector: owned }), []),
      ),
    )
  )
    .flat()
    .filter(notReady);
  const inNamespaces = async (kind: string): Promise<K8sObject[]> =>
    (
      await Promise.all(
        NAMESPACES.map((namespace) =>
          attempt(`list ${kind} in ${namespace}`, () => client.list('v1', kind, { namespace }), []),
        ),
      )
    ).flat();
  const pods = await inNamespaces('Pod');
  const events = await inNamespaces('Event');
  const certificates = (
    await attempt(
      'list Certificates',
      () => client.list('cert-manager.io/v1', 'Certificate', { labelSelector: owned }),
      [],
    )
  ).filter((c) => !conditionTrue(c, 'Ready'));

  const logs: PodLog[] = [];
  for (const source of LOGS)
    for (const pod of pods.filter(
      (p) =>
        p.metadata.namespace === source.namespace &&
        source.selector
          .split(',')
          .every(
            (term) => p.metadata.labels?.[term.split('=')[0] as string] === term.split('=')[1],
          ),
    )) {
      const containers = (
        (pod.spec as { containers?: { name: string }[] } | undefined)?.containers ?? []
      )
        .map((c) => c.name)
        .filter((name) => !source.container || name === source.container);
      for (const container of containers) {
        const text = await attempt(
          `log of ${source.namespace}/${pod.metadata.name} (${container})`,
          () => client.podLog(source.namespace, pod.metadata.name, container, LOG_SECONDS),
          undefined,
        );
        if (text !== undefined)
          logs.push({
            namespace: source.namespace,
            pod: pod.metadata.name,
            container,
            text: text.split('\n').slice(-LOG_LINES).join('\n'),
          });
      }
    }

  const spire = pods.some(
    (p) => p.metadata.namespace === SPIRE_NAMESPACE && p.metadata.name === SPIRE_SERVER.pod,
  );
  const spireOut = (what: string, args: string[]): Promise<string | undefined> =>
    spire
      ? attempt(`spire-server ${what}`, () => spireRead(client, args), undefined)
      : Promise.resolve(undefined);
  const entries = await spireOut('entry show', ['entry', 'show']);
  const bundles = await spireOut('bundle list', ['bundle', 'list', '-format', 'spiffe']);

  return {
    cluster: client.cluster.context,
    failing: [...workloads, ...certificates],
    pods: pods.filter(podNotReady),
    events,
    logs,
    ...(entries !== undefined ? { spireEntries: entries } : {}),
    ...(bundles !== undefined ? { spireBundles: bundles } : {}),
    errors,
  };
}

export async function gatherDiagnostics(ctx: RunContext): Promise<ClusterDiagnostics[]> {
  return Promise.all(ctx.clients.map(gatherCluster));
}
