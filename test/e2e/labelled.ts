// What the action left in a cluster, read with kubectl: every object of any
// listable kind that carries the action's managed-by label.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../../src/model/names.ts';

const run = promisify(execFile);
export const OWNED = 'app.kubernetes.io/managed-by=mesh-federation';

export interface Listed {
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion: string;
    ownerReferences?: { kind: string; name: string }[];
  };
  status?: unknown;
}

/** `kubectl … -o json`, parsed: a list or a single object, as asked. */
export async function kubectlJson(
  kubectl: string,
  kubeconfigFile: string,
  context: string,
  args: string[],
): Promise<unknown> {
  const { stdout } = await run(
    kubectl,
    ['--kubeconfig', kubeconfigFile, '--context', context, ...args, '-o', 'json'],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  return JSON.parse(stdout);
}

export async function kubectlList(
  kubectl: string,
  kubeconfigFile: string,
  context: string,
  args: string[],
): Promise<Listed[]> {
  return ((await kubectlJson(kubectl, kubeconfigFile, context, args)) as { items: Listed[] }).items;
}

export async function labelledObjects(
  kubectl: string,
  kubeconfigFile: string,
  context: string,
): Promise<Listed[]> {
  const { stdout } = await run(kubectl, [
    '--kubeconfig',
    kubeconfigFile,
    '--context',
    context,
    'api-resources',
    '--verbs=list',
    '-o',
    'name',
  ]);
  const kinds = stdout
    .split('\n')
    .filter((k) => k && k !== 'events' && k !== 'events.events.k8s.io');
  return kubectlList(kubectl, kubeconfigFile, context, ['get', kinds.join(','), '-A', '-l', OWNED]);
}

export const refOf = (o: Listed): string =>
  `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** kubectl arguments that run `spire-server <args>` in a cluster's server pod, as the action does. */
export function spireServerExec(args: string[]): string[] {
  const { pod, container, binary, socket } = SPIRE_SERVER;
  return [
    ...['-n', SPIRE_NAMESPACE, 'exec', pod, '-c', container, '--'],
    ...[binary, ...args, '-socketPath', socket],
  ];
}

/**
 * What a run left, to compare with a clean `all`: every labelled object, and how many
 * ReplicaSets each Deployment in a labelled namespace has (a re-run must not roll them again).
 */
export async function installedState(
  kubectl: string,
  kubeconfigFile: string,
  contexts: string[],
): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const context of contexts) {
    const objects = await labelledObjects(kubectl, kubeconfigFile, context);
    const namespaces = new Set(
      objects.flatMap((o) => (o.kind === 'Namespace' ? [o.metadata.name] : [])),
    );
    const replicaSets = (
      await kubectlList(kubectl, kubeconfigFile, context, ['get', 'replicasets', '-A'])
    ).filter((o) => namespaces.has(o.metadata.namespace ?? ''));
    const perDeployment = new Map<string, number>();
    for (const rs of replicaSets) {
      const owner = rs.metadata.ownerReferences?.find((r) => r.kind === 'Deployment')?.name ?? '?';
      const key = `ReplicaSets of ${rs.metadata.namespace}/${owner}`;
      perDeployment.set(key, (perDeployment.get(key) ?? 0) + 1);
    }
    out[context] = [
      ...objects.map(refOf),
      ...[...perDeployment].map(([key, n]) => `${key}: ${n}`),
    ].sort();
  }
  return out;
}
