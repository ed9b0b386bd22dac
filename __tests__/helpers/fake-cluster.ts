// An in-memory cluster behind the methods of ClusterClient that phases call,
// for orchestration tests (apply order, waits, cleanup order) that must run
// in milliseconds. It plays the parts of a real cluster that those rules
// depend on: a ReplicaSet controller that creates a Deployment's pods at once
// (through admission, as the API server would), Istio's sidecar injector once
// its webhook is registered and istiod runs, pods that take a moment to
// terminate, and server-side apply's ownership rule. Every write is logged in
// order in `events`, so a test can say what happened before what.
import { execFile } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { pollUntil } from '../../src/cluster/client.ts';
import { WaitClock } from '../../src/cluster/wait-clock.ts';
import type { ClusterApi, ExecResult, ServedKind } from '../../src/cluster/api.ts';
import { isClusterScoped } from '../../src/model/kinds.ts';
import type { ApplyRecord } from '../../src/model/results.ts';
import { planApply } from '../../src/cluster/ownership.ts';
import { ClusterError } from '../../src/cluster/errors.ts';
import type { ClusterConfig } from '../../src/config/config.ts';
import { objectRef, type K8sObject } from '../../src/model/k8s-object.ts';

type Header = Pick<K8sObject, 'apiVersion' | 'kind'> & {
  metadata: { name: string; namespace?: string };
};

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    containers?: { name: string; image?: string }[];
    volumes?: unknown[];
  };
}

const key = (o: { kind: string; metadata: { name: string; namespace?: string } }): string =>
  `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

const clone = <T>(o: T): T => structuredClone(o);

function matchesSelector(o: K8sObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=') as [string, string];
    return o.metadata.labels?.[k] === v;
  });
}

function matchesField(o: K8sObject, selector: string | undefined): boolean {
  if (!selector) return true;
  const [field, value] = selector.split('=') as [string, string];
  if (field !== 'metadata.name')
    throw new Error(`fake cluster: unsupported field selector ${field}`);
  return o.metadata.name === value;
}

export const INJECTOR_WEBHOOK = 'istio-sidecar-injector';
export const INJECTED_PROXY_IMAGE = 'docker.io/istio/proxyv2:fake';

export class FakeCluster implements ClusterApi {
  readonly cluster: ClusterConfig;
  readonly server = 'https://fake.invalid';
  readonly timeoutMs: number;
  readonly objects = new Map<string, K8sObject>();
  /** Every write and every probe, in order: `apply Deployment/ns/x`, `delete …`, `probe …`. */
  readonly events: string[] = [];
  /** How long a deleted pod stays (terminating) before it is gone. */
  podTerminationMs = 30;
  private version = 1;
  private podSerial = 0;

  /** `cluster`: one of a Config's clusters, for tests that run whole phases on several fakes. */
  constructor(context = 'cluster-1', timeoutMs = 2000, cluster?: ClusterConfig) {
    this.timeoutMs = timeoutMs;
    this.cluster = cluster ?? {
      index: 0,
      context,
      name: context,
      trustDomain: 'foo.com',
      network: 'network-1',
      apiServer: '',
    };
  }

  asClient(): ClusterApi {
    return this;
  }

  /** When set, every write to this cluster fails with it: a cluster that breaks half-way. */
  failWrites: Error | undefined;

  /** The kinds of what it holds, as discovery would list them. */
  async servedKinds(): Promise<ServedKind[]> {
    const kinds = new Map<string, ServedKind>();
    for (const o of this.objects.values())
      kinds.set(`${o.apiVersion} ${o.kind}`, {
        apiVersion: o.apiVersion,
        kind: o.kind,
        namespaced: !isClusterScoped(o.kind),
      });
    return [...kinds.values()];
  }

  retries(): number {
    return 0;
  }

  private readonly waits = new WaitClock();

  waitedMs(): number {
    return this.waits.ms();
  }

  waiting<T>(wait: () => Promise<T>): Promise<T> {
    return this.waits.during(wait);
  }

  async checkReachable(): Promise<string> {
    return 'v1.36.0-fake';
  }

  async patchStatus(header: Header, status: Record<string, unknown>): Promise<void> {
    this.events.push(`status ${key(header)}`);
    const o = this.objects.get(key(header));
    if (!o)
      throw new ClusterError(this.cluster.context, `${objectRef(header as K8sObject)} not found`);
    o.status = { ...(o.status as object), ...status };
  }

  async podLog(): Promise<string> {
    return '';
  }

  /** Optimistic concurrency as the API server does it: by resourceVersion. */
  async create(object: K8sObject): Promise<K8sObject | 'conflict'> {
    if (this.objects.has(key(object))) return 'conflict';
    const body = clone(object);
    this.store(body);
    this.events.push(`create ${objectRef(object)}`);
    return clone(body);
  }

  async replace(object: K8sObject): Promise<K8sObject | 'conflict'> {
    const live = this.objects.get(key(object));
    if (!live || live.metadata.resourceVersion !== object.metadata.resourceVersion)
      return 'conflict';
    const body = clone(object);
    this.store(body);
    this.events.push(`replace ${objectRef(object)}`);
    return clone(body);
  }

  async deleteIfUnchanged(
    header: Header,
    resourceVersion: string,
  ): Promise<'deleted' | 'absent' | 'conflict'> {
    const live = this.objects.get(key(header));
    if (!live) return 'absent';
    if (live.metadata.resourceVersion !== resourceVersion) return 'conflict';
    this.objects.delete(key(header));
    this.events.push(`delete ${objectRef(header as K8sObject)}`);
    return 'deleted';
  }

  /** The fake runs no istioctl: a phase that needs it here fails, visibly. */
  async istioctl(args: string[]): Promise<string> {
    this.events.push(`istioctl ${args.join(' ')}`);
    throw new ClusterError(this.cluster.context, 'the fake cluster runs no istioctl');
  }

  /** Puts an object in place as if someone else had created it (no event, no admission). */
  seed(o: K8sObject): void {
    this.store(clone(o));
  }

  pods(): K8sObject[] {
    return [...this.objects.values()].filter((o) => o.kind === 'Pod');
  }

  private store(o: K8sObject): void {
    o.metadata.resourceVersion = String(this.version++);
    this.objects.set(key(o), o);
  }

  /** Istio's injector answers once its webhook is registered and an istiod Deployment runs. */
  private injectorServing(): boolean {
    const webhook = this.objects.get(
      key({ kind: 'MutatingWebhookConfiguration', metadata: { name: INJECTOR_WEBHOOK } }),
    );
    const istiod = [...this.objects.values()].find(
      (o) => o.kind === 'Deployment' && o.metadata.name === 'istiod',
    );
    return Boolean(webhook && istiod);
  }

  /** Admission of a new pod: the injector fills in `image: auto` when it serves. */
  private admit(pod: K8sObject): K8sObject {
    const webhook = this.objects.get(
      key({ kind: 'MutatingWebhookConfiguration', metadata: { name: INJECTOR_WEBHOOK } }),
    );
    const wantsInjection = pod.metadata.labels?.['sidecar.istio.io/inject'] === 'true';
    if (webhook && wantsInjection) {
      if (!this.injectorServing())
        throw Object.assign(new Error('HTTP 500'), {
          code: 500,
          body: JSON.stringify({
            message: 'failed calling webhook "object.sidecar-injector.istio.io"',
          }),
        });
      for (const c of (pod.spec as PodTemplate['spec'])?.containers ?? [])
        if (c.image === 'auto') c.image = INJECTED_PROXY_IMAGE;
    }
    return pod;
  }

  /** The ReplicaSet controller and kubelet in one: pods for each Deployment, status from them. */
  private reconcile(): void {
    for (const d of [...this.objects.values()].filter((o) => o.kind === 'Deployment')) {
      const spec = d.spec as {
        replicas?: number;
        template?: PodTemplate;
        selector?: { matchLabels?: Record<string, string> };
      };
      const labels = spec.template?.metadata?.labels ?? {};
      const mine = this.pods().filter(
        (p) =>
          p.metadata.namespace === d.metadata.namespace &&
          (p.metadata as { ownerName?: string }).ownerName === d.metadata.name,
      );
      const live = mine.filter((p) => !p.metadata.deletionTimestamp);
      for (const extra of live.slice(spec.replicas ?? 1)) this.terminate(extra);
      for (let i = live.length; i < (spec.replicas ?? 1); i++) {
        const pod: K8sObject = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: `${d.metadata.name}-${++this.podSerial}`,
            namespace: d.metadata.namespace,
            labels: clone(labels),
            annotations: clone(spec.template?.metadata?.annotations ?? {}),
            ownerName: d.metadata.name,
          },
          spec: clone(spec.template?.spec ?? {}),
          status: { phase: 'Running' },
        };
        try {
          this.store(this.admit(pod));
          this.events.push(`create ${objectRef(pod)} image=${this.images(pod).join(',')}`);
        } catch {
          this.events.push(`failed-create pod of ${objectRef(d)}`);
        }
      }
      const pods = this.pods().filter(
        (p) =>
          (p.metadata as { ownerName?: string }).ownerName === d.metadata.name &&
          !p.metadata.deletionTimestamp,
      );
      const ready = pods.filter((p) => !this.images(p).includes('auto')).length;
      d.status = {
        observedGeneration: d.metadata.generation,
        replicas: pods.length,
        updatedReplicas: pods.length,
        readyReplicas: ready,
        availableReplicas: ready,
      };
    }
  }

  private images(pod: K8sObject): string[] {
    return ((pod.spec as PodTemplate['spec'])?.containers ?? []).map((c) => c.image ?? '');
  }

  /**
   * Runs the command on this host, as the container would run it: tests point
   * it at loopback servers they start, so scripts, curl and parsing are real.
   */
  async exec(
    namespace: string,
    pod: string,
    container: string,
    command: string[],
  ): Promise<ExecResult> {
    this.events.push(`exec ${namespace}/${pod} (${container})`);
    const [file, ...args] = command as [string, ...string[]];
    return new Promise((resolve) =>
      execFile(file, args, { timeout: 20_000 }, (error, stdout, stderr) =>
        resolve({
          stdout,
          stderr,
          exitCode: error ? Number((error as { code?: number }).code ?? 1) : 0,
        }),
      ),
    );
  }

  async read(header: Header): Promise<K8sObject | null> {
    const o = this.objects.get(key(header));
    return o ? clone(o) : null;
  }

  async list(
    apiVersion: string,
    kind: string,
    options: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<K8sObject[]> {
    return [...this.objects.values()]
      .filter(
        (o) =>
          o.kind === kind &&
          (!options.namespace || o.metadata.namespace === options.namespace) &&
          matchesSelector(o, options.labelSelector) &&
          matchesField(o, options.fieldSelector),
      )
      .map((o) => ({ ...clone(o), apiVersion }));
  }

  async applyOne(object: K8sObject): Promise<ApplyRecord> {
    if (this.failWrites) throw this.failWrites;
    const ref = objectRef(object);
    const before = this.objects.get(key(object)) ?? null;
    const plan = planApply(before, object);
    if ('refuse' in plan) throw new ClusterError(this.cluster.context, plan.refuse);
    const body = clone(plan.body);
    // What the server sets itself never makes an apply a change.
    const applied = (o: K8sObject): K8sObject =>
      JSON.parse(
        JSON.stringify({
          ...o,
          metadata: { ...o.metadata, resourceVersion: '', generation: 0, uid: '' },
          status: undefined,
        }),
      );
    const same = before !== null && isDeepStrictEqual(applied(before), applied(body));
    if (!same) {
      body.metadata.generation = ((before?.metadata.generation as number | undefined) ?? 0) + 1;
      this.store(body);
      this.events.push(`apply ${ref}`);
      this.reconcile();
    }
    const action = !before ? 'created' : same ? 'unchanged' : 'changed';
    return plan.foreign ? { ref, action, foreign: true } : { ref, action };
  }

  async dryRunCreate(object: K8sObject): Promise<K8sObject> {
    this.events.push(`probe ${objectRef(object)}`);
    return this.admit(clone(object));
  }

  async delete(header: Header): Promise<'deleted' | 'absent'> {
    const o = this.objects.get(key(header));
    if (!o) return 'absent';
    this.events.push(`delete ${objectRef(header as K8sObject)}`);
    // Both go later, as on an API server: a pod after its grace period, a CRD once its
    // finalizer has deleted its custom resources.
    if (o.kind === 'Pod' || o.kind === 'CustomResourceDefinition') {
      this.terminate(o);
      if (o.kind === 'Pod') this.reconcile();
      return 'deleted';
    }
    this.objects.delete(key(header));
    if (o.kind === 'Deployment')
      for (const p of this.pods())
        if ((p.metadata as { ownerName?: string }).ownerName === o.metadata.name) this.terminate(p);
    if (o.kind === 'Namespace')
      for (const [k, x] of this.objects)
        if (x.metadata.namespace === o.metadata.name) this.objects.delete(k);
    return 'deleted';
  }

  private terminate(o: K8sObject): void {
    o.metadata.deletionTimestamp = new Date().toISOString();
    setTimeout(() => {
      this.objects.delete(key(o));
      this.events.push(`gone ${objectRef(o)}`);
    }, this.podTerminationMs);
  }

  waitFor(
    header: Header,
    done: (o: K8sObject) => boolean,
    describe: (o: K8sObject | null) => string | Promise<string>,
    timeoutMs = this.timeoutMs,
  ): Promise<K8sObject> {
    const deadline = Date.now() + timeoutMs;
    return this.waits.during(async () => {
      for (;;) {
        const o = await this.read(header);
        if (o && done(o)) return o;
        if (Date.now() > deadline)
          throw new ClusterError(
            this.cluster.context,
            `timed out waiting for ${objectRef(header as K8sObject)}: ${await describe(o)}`,
          );
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  }

  async waitForGone(header: Header, timeoutMs = this.timeoutMs): Promise<void> {
    await this.until(
      `${objectRef(header as K8sObject)} is gone`,
      async () => (this.objects.has(key(header)) ? { pending: 'still there' } : { value: true }),
      timeoutMs,
    );
  }

  /** The client's own poll loop, on this cluster's wait clock. */
  until: ClusterApi['until'] = (what, attempt, timeoutMs = this.timeoutMs) =>
    this.waits.during(() => pollUntil(this.cluster.context, what, attempt, timeoutMs));
}
