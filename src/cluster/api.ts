// The one interface phases use to reach a cluster. ClusterClient implements it
// over the Kubernetes API; the orchestration tests implement it in memory.
import type { ClusterConfig } from '../config/config.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import type { ApplyRecord } from '../model/results.ts';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /**
   * 0 on success, the exit code the API reported otherwise, -1 for a failure
   * without a code; null when the stream ended without any status, which says
   * nothing either way (client-node closes stdin by closing the socket unless
   * the server speaks v5.channel.k8s.io, which Kubernetes 1.29 does not by
   * default).
   */
  exitCode: number | null;
}

/** One try of a poll: the value once there, else why not yet. */
export type Attempt<T> = { value: T } | { pending: string };

export type ObjectHeader = Pick<K8sObject, 'apiVersion' | 'kind'> & {
  metadata: { name: string; namespace?: string };
};

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** A kind the API server serves at its preferred version, which can be listed and deleted. */
export interface ServedKind {
  apiVersion: string;
  kind: string;
  namespaced: boolean;
}

export interface ClusterApi {
  readonly cluster: ClusterConfig;
  /** API server URL from the kubeconfig. */
  readonly server: string;
  /** Bound of every wait and retry on this cluster. */
  readonly timeoutMs: number;

  /** How many calls failed for a passing reason (network, 429, 5xx) and were tried again. */
  retries(): number;
  /** How long this cluster kept the run waiting for readiness so far (overlapping waits once). */
  waitedMs(): number;
  /** Runs `wait` as time spent waiting for the cluster to become ready (see waitedMs). */
  waiting<T>(wait: () => Promise<T>): Promise<T>;
  /** The Kubernetes version; fails fast, naming the cluster, when it cannot be reached. */
  checkReachable(): Promise<string>;
  read(header: ObjectHeader): Promise<K8sObject | null>;
  list(apiVersion: string, kind: string, options?: ListOptions): Promise<K8sObject[]>;
  /** Every kind served (API discovery), so cleanup finds what any installer created. */
  servedKinds(): Promise<ServedKind[]>;
  /** Server-side apply; refuses an object that exists without our ownership label. */
  applyOne(object: K8sObject, fieldManager?: string): Promise<ApplyRecord>;
  /** What admission makes of `object` (webhooks included), without creating it. */
  dryRunCreate(object: K8sObject): Promise<K8sObject>;
  delete(header: ObjectHeader): Promise<'deleted' | 'absent'>;
  /**
   * Optimistic writes for objects several runs contend for (the run lock):
   * `create` fails on an existing object, `replace` on a changed one
   * (metadata.resourceVersion), `delete` with a resourceVersion on either;
   * each answers 'conflict' instead of throwing.
   */
  create(object: K8sObject): Promise<K8sObject | 'conflict'>;
  replace(object: K8sObject): Promise<K8sObject | 'conflict'>;
  deleteIfUnchanged(
    header: ObjectHeader,
    resourceVersion: string,
  ): Promise<'deleted' | 'absent' | 'conflict'>;
  patchStatus(header: ObjectHeader, status: Record<string, unknown>): Promise<void>;
  /** Polls `attempt` until it gives a value, or fails with its last pending reason. */
  until<T>(what: string, attempt: () => Promise<Attempt<T>>, timeoutMs?: number): Promise<T>;
  waitFor(
    header: ObjectHeader,
    done: (o: K8sObject) => boolean,
    /** What is still missing, for the timeout message; may read more of the cluster. */
    describe: (o: K8sObject | null) => string | Promise<string>,
    timeoutMs?: number,
  ): Promise<K8sObject>;
  waitForGone(header: ObjectHeader, timeoutMs?: number): Promise<void>;
  podLog(namespace: string, name: string, container: string, sinceSeconds: number): Promise<string>;
  /** Runs a command in a container; never throws on a non-zero exit. */
  exec(
    namespace: string,
    pod: string,
    container: string,
    command: string[],
    options?: { stdin?: string; timeoutMs?: number },
  ): Promise<ExecResult>;
  /** istioctl with this cluster's context (create-remote-secret, proxy-config); its stdout. */
  istioctl(args: string[]): Promise<string>;
}
