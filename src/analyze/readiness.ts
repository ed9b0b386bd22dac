// Readiness of the workloads the action installed, judged from the objects as the
// API returns them (raw JSON or @kubernetes/client-node models: the field names
// are the same, timestamps may be strings or Dates). When a workload is not
// ready, the check carries the evidence a human needs next: which pods fail and
// why, and the latest events about them.

import { failed, passed, truncate, type Check } from '../model/check.ts';
import { conditionTrue } from '../model/conditions.ts';

type Time = string | Date | undefined | null;

interface Meta {
  name?: string;
  namespace?: string;
  generation?: number;
  labels?: Record<string, string>;
  deletionTimestamp?: Time;
  creationTimestamp?: Time;
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

export interface WorkloadObject {
  metadata?: Meta;
  spec?: {
    replicas?: number;
    selector?: LabelSelector;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    desiredNumberScheduled?: number;
    numberReady?: number;
    numberAvailable?: number;
    updatedNumberScheduled?: number;
    conditions?: Condition[];
  };
}

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: object;
  terminated?: { reason?: string; exitCode?: number; message?: string };
}

interface ContainerStatus {
  name?: string;
  ready?: boolean;
  started?: boolean;
  restartCount?: number;
  state?: ContainerState;
  lastState?: ContainerState;
}

export interface PodObject {
  metadata?: Meta;
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: Condition[];
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}

export interface EventObject {
  metadata?: Meta;
  involvedObject?: { kind?: string; name?: string; namespace?: string };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  lastTimestamp?: Time;
  firstTimestamp?: Time;
  eventTime?: Time;
  series?: { lastObservedTime?: Time; count?: number };
}

export type WorkloadKind = 'Deployment' | 'DaemonSet' | 'StatefulSet';

export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

export interface ReadinessEvidence {
  cluster: string;
  /** Grouped by kind because list responses do not set `kind` on their items. */
  deployments?: WorkloadObject[];
  daemonSets?: WorkloadObject[];
  statefulSets?: WorkloadObject[];
  pods: PodObject[];
  events: EventObject[];
  /** Workloads that must exist; a missing one fails instead of being silently skipped. */
  expected?: WorkloadRef[];
}

export interface RolloutState {
  done: boolean;
  reason: string;
  desired: number;
  ready: number;
}

export interface PodReport {
  name: string;
  phase: string;
  restarts: number;
  reasons: string[];
}

export interface EventReport {
  type: string;
  reason: string;
  object: string;
  message: string;
  count: number;
  time?: string;
}

const MAX_PODS = 10;
const MAX_EVENTS = 5;

const n = (value: number | undefined): number => value ?? 0;

/**
 * Whether a rollout is complete, with the same rules as `kubectl rollout status`
 * (observed generation, updated, available / ready counts), so the phase code
 * can use it as the condition of a watch too.
 */
export function rolloutState(kind: WorkloadKind, obj: WorkloadObject): RolloutState {
  const status = obj.status;
  if (!status) return { done: false, reason: 'no status yet', desired: 0, ready: 0 };
  const daemon = kind === 'DaemonSet';
  const desired = daemon ? n(status.desiredNumberScheduled) : (obj.spec?.replicas ?? 1);
  const ready = daemon ? n(status.numberReady) : n(status.readyReplicas);
  const state = (done: boolean, reason: string): RolloutState => ({ done, reason, desired, ready });
  const generation = obj.metadata?.generation;
  if (
    generation !== undefined &&
    status.observedGeneration !== undefined &&
    status.observedGeneration < generation
  ) {
    return state(false, 'controller has not seen the latest spec');
  }

  if (daemon) {
    if (desired === 0) return state(false, 'scheduled on no node (0 desired)');
    const updated = n(status.updatedNumberScheduled);
    if (updated < desired) return state(false, `${updated}/${desired} pods updated`);
    const done = ready >= desired && n(status.numberAvailable) >= desired;
    return state(done, `${ready}/${desired} pods ready`);
  }

  if (kind === 'Deployment') {
    const progressing = status.conditions?.find((c) => c.type === 'Progressing');
    if (progressing?.reason === 'ProgressDeadlineExceeded') {
      return state(false, `progress deadline exceeded, ${ready}/${desired} ready`);
    }
    const updated = n(status.updatedReplicas);
    if (updated < desired) return state(false, `${updated}/${desired} replicas updated`);
    const old = n(status.replicas) - updated;
    if (old > 0) return state(false, `${old} old replica(s) still terminating`);
    const done = n(status.availableReplicas) >= updated && ready >= desired;
    return state(done, `${ready}/${desired} replicas ready`);
  }

  // StatefulSet: with a partition, only some replicas are meant to update.
  if (ready < desired) return state(false, `${ready}/${desired} replicas ready`);
  const rolling = (obj.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
  const partition = obj.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  if (rolling && partition === 0 && status.updatedReplicas !== undefined) {
    if (status.updatedReplicas < desired) {
      return state(false, `${status.updatedReplicas}/${desired} replicas updated`);
    }
    if (status.updateRevision && status.currentRevision !== status.updateRevision) {
      return state(false, 'rolling update still in progress');
    }
  }
  return state(true, `${ready}/${desired} replicas ready`);
}

export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Record<string, string> = {},
): boolean {
  // An empty or missing selector would match every pod in the namespace; for a
  // workload that is a misconfiguration, so it matches none.
  if (!selector || (!selector.matchLabels && !selector.matchExpressions?.length)) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const expr of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, expr.key);
    const value = labels[expr.key];
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
        if (!has || !values.includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

function describeState(
  container: string,
  state: ContainerState | undefined,
  init: boolean,
): string | undefined {
  const where = init ? `init container ${container}` : container;
  if (state?.waiting) {
    const reason = state.waiting.reason ?? 'Waiting';
    return state.waiting.message
      ? `${where}: ${reason}: ${truncate(state.waiting.message)}`
      : `${where}: ${reason}`;
  }
  if (state?.terminated) {
    const { reason = 'Terminated', exitCode } = state.terminated;
    // A plain init container that exited 0 did its job.
    if (init && exitCode === 0) return undefined;
    return `${where}: ${reason} (exit code ${exitCode ?? '?'})`;
  }
  return undefined;
}

function isPodReady(pod: PodObject): boolean {
  return (
    pod.status?.phase === 'Running' &&
    !pod.metadata?.deletionTimestamp &&
    conditionTrue(pod, 'Ready')
  );
}

/** Why a pod is not ready, most telling first; empty for a ready pod. */
export function podReport(pod: PodObject): PodReport {
  const status = pod.status ?? {};
  const reasons: string[] = [];
  const name = pod.metadata?.name ?? '?';
  const phase = status.phase ?? 'Unknown';
  const containers = [
    ...(status.initContainerStatuses ?? []).map((s) => ({ s, init: true })),
    ...(status.containerStatuses ?? []).map((s) => ({ s, init: false })),
  ];
  const restarts = containers.reduce((sum, { s }) => sum + n(s.restartCount), 0);
  if (isPodReady(pod)) return { name, phase, restarts, reasons };

  if (pod.metadata?.deletionTimestamp) reasons.push('terminating');
  if (status.reason) {
    reasons.push(status.message ? `${status.reason}: ${truncate(status.message)}` : status.reason);
  }
  const scheduled = status.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False') {
    reasons.push(
      `${scheduled.reason ?? 'Unschedulable'}: ${truncate(scheduled.message ?? '')}`.replace(
        /: $/,
        '',
      ),
    );
  }
  for (const { s, init } of containers) {
    const now = describeState(s.name ?? '?', s.state, init);
    if (now) reasons.push(now);
    else if (s.state?.running && s.ready === false) {
      reasons.push(`${init ? `init container ${s.name}` : s.name}: running but not ready`);
    }
    if (n(s.restartCount) > 0) {
      const last = s.lastState?.terminated;
      const lastWhy = last
        ? ` (last: ${last.reason ?? 'terminated'}, exit code ${last.exitCode ?? '?'})`
        : '';
      reasons.push(`${s.name ?? '?'}: restarted ${s.restartCount} time(s)${lastWhy}`);
    }
  }
  if (reasons.length === 0) {
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    reasons.push(
      ready?.reason
        ? `not ready: ${ready.reason}${ready.message ? `: ${truncate(ready.message)}` : ''}`
        : `phase ${phase}`,
    );
  }
  return { name, phase, restarts, reasons };
}

const timeOf = (e: EventObject): string | undefined => {
  const t =
    e.series?.lastObservedTime ??
    e.lastTimestamp ??
    e.eventTime ??
    e.firstTimestamp ??
    e.metadata?.creationTimestamp;
  if (!t) return undefined;
  return t instanceof Date ? t.toISOString() : t;
};

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Names that the controllers derive from a workload's name, for events about objects already gone. */
function ownedNamePatterns(kind: WorkloadKind, name: string): { kind: string; pattern: RegExp }[] {
  const base = escape(name);
  switch (kind) {
    case 'Deployment':
      return [
        { kind: 'ReplicaSet', pattern: new RegExp(`^${base}-[a-z0-9]{1,10}$`) },
        { kind: 'Pod', pattern: new RegExp(`^${base}-[a-z0-9]{1,10}-[a-z0-9]{5}$`) },
      ];
    case 'DaemonSet':
      return [{ kind: 'Pod', pattern: new RegExp(`^${base}-[a-z0-9]{5}$`) }];
    case 'StatefulSet':
      return [{ kind: 'Pod', pattern: new RegExp(`^${base}-\\d+$`) }];
  }
}

/** Latest events about the workload, its ReplicaSets and its pods; warnings first. */
export function eventsFor(
  ref: WorkloadRef,
  podNames: ReadonlySet<string>,
  events: readonly EventObject[],
  max = MAX_EVENTS,
): EventReport[] {
  const patterns = ownedNamePatterns(ref.kind, ref.name);
  const relevant = events.filter((e) => {
    const o = e.involvedObject;
    if (!o?.name || (o.namespace ?? e.metadata?.namespace) !== ref.namespace) return false;
    if (o.kind === ref.kind && o.name === ref.name) return true;
    if (o.kind === 'Pod' && podNames.has(o.name)) return true;
    return patterns.some((p) => p.kind === o.kind && p.pattern.test(o.name as string));
  });
  const warning = (e: EventObject): number => (e.type === 'Warning' ? 0 : 1);
  return relevant
    .toSorted((a, b) => warning(a) - warning(b) || (timeOf(b) ?? '').localeCompare(timeOf(a) ?? ''))
    .slice(0, max)
    .map((e) => {
      const time = timeOf(e);
      return {
        type: e.type ?? 'Normal',
        reason: e.reason ?? '',
        object: `${e.involvedObject?.kind ?? '?'}/${e.involvedObject?.name ?? '?'}`,
        message: truncate(e.message ?? ''),
        count: e.series?.count ?? e.count ?? 1,
        ...(time ? { time } : {}),
      };
    });
}

const podProblem = (p: PodReport): string => `${p.name}: ${p.reasons[0]}`;

/** The pods a workload's selector picks in its namespace. */
function ownPods(obj: WorkloadObject, pods: readonly PodObject[]): PodObject[] {
  return pods.filter(
    (p) =>
      p.metadata?.namespace === obj.metadata?.namespace &&
      selectorMatches(obj.spec?.selector, p.metadata?.labels),
  );
}

/** The first pod of a workload that is not ready, and why ("<pod>: <reason>"); undefined if none. */
export function firstPodProblem(
  obj: WorkloadObject,
  pods: readonly PodObject[],
): string | undefined {
  const failing = ownPods(obj, pods)
    .map(podReport)
    .find((p) => p.reasons.length > 0);
  return failing && podProblem(failing);
}

function checkWorkload(
  cluster: string,
  kind: WorkloadKind,
  obj: WorkloadObject,
  pods: readonly PodObject[],
  events: readonly EventObject[],
): Check {
  const ref: WorkloadRef = {
    kind,
    namespace: obj.metadata?.namespace ?? '',
    name: obj.metadata?.name ?? '?',
  };
  const name = `${kind} ${ref.namespace}/${ref.name}`;
  const state = rolloutState(kind, obj);
  const own = ownPods(obj, pods);
  const base = {
    kind,
    namespace: ref.namespace,
    name: ref.name,
    desired: state.desired,
    ready: state.ready,
  };
  if (state.done) return passed(name, cluster, state.reason, base);

  const failing = own.map(podReport).filter((p) => p.reasons.length > 0);
  const latest = eventsFor(ref, new Set(own.map((p) => p.metadata?.name ?? '')), events);
  const first = failing[0];
  const firstWarning = latest.find((e) => e.type === 'Warning');
  let why = state.reason;
  if (first) why += `; ${podProblem(first)}`;
  else if (firstWarning)
    why += `; ${firstWarning.object}: ${firstWarning.reason}: ${firstWarning.message}`;
  else if (own.length === 0 && state.desired > 0) why += '; no pods exist';
  return failed(name, cluster, why, {
    ...base,
    pods: failing.slice(0, MAX_PODS),
    ...(failing.length > MAX_PODS ? { morePods: failing.length - MAX_PODS } : {}),
    events: latest,
  });
}

/** One check per workload (and per expected workload that does not exist). */
export function analyzeReadiness(evidence: ReadinessEvidence): Check[] {
  const { cluster, pods, events } = evidence;
  const groups: [WorkloadKind, WorkloadObject[]][] = [
    ['Deployment', evidence.deployments ?? []],
    ['DaemonSet', evidence.daemonSets ?? []],
    ['StatefulSet', evidence.statefulSets ?? []],
  ];
  const checks: Check[] = [];
  const seen = new Set<string>();
  for (const [kind, objects] of groups) {
    for (const obj of objects) {
      seen.add(`${kind}/${obj.metadata?.namespace}/${obj.metadata?.name}`);
      checks.push(checkWorkload(cluster, kind, obj, pods, events));
    }
  }
  for (const ref of evidence.expected ?? []) {
    if (seen.has(`${ref.kind}/${ref.namespace}/${ref.name}`)) continue;
    checks.push(
      failed(`${ref.kind} ${ref.namespace}/${ref.name}`, cluster, `${ref.kind} not found`, {
        ...ref,
        events: eventsFor(ref, new Set(), events),
      }),
    );
  }
  return checks;
}
