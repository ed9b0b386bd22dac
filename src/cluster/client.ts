// The one place that talks to a cluster: server-side apply with our field
// manager, read, list, delete, wait by watch, logs, exec. Every REST call goes
// over one HTTP stack (node:https, with the kubeconfig's TLS and credentials);
// exec is a WebSocket. Transient failures are retried within the run's
// timeout; everything else becomes a ClusterError.
import http from 'node:http';
import https from 'node:https';
import { PassThrough, Readable } from 'node:stream';
import pRetry, { AbortError } from 'p-retry';
import * as k8s from '@kubernetes/client-node';
import { FIELD_MANAGER, type ClusterConfig } from '../config/config.ts';
import { objectRef, type K8sObject } from '../model/k8s-object.ts';
import { holdsApplied, withAppliedDigest } from './applied-digest.ts';
import { ClusterError, describeError, httpStatus, isTransient, networkCode } from './errors.ts';
import { planApply } from './ownership.ts';
import { WaitClock } from './wait-clock.ts';
import type {
  Attempt,
  ClusterApi,
  ExecResult,
  ListOptions,
  ObjectHeader,
  ServedKind,
} from './api.ts';
import type { Istioctl } from './istioctl.ts';

import type { ApplyAction, ApplyRecord } from '../model/results.ts';

/** `/api/v1` for the core group, `/apis/<group>/<version>` for the others. */
const groupVersionPath = (apiVersion: string): string =>
  apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;

/**
 * How long a cluster that refuses every connection is waited for, mid-run. An
 * API server restarting (an upgrade, a crash) is back well within it; a cluster
 * that is gone should fail a PR check in a minute, not hold it for `timeout`.
 */
export const REFUSED_BUDGET_MS = 60_000;

/** A kind the API server does not serve (yet: a CRD may still come). */
class NotServed extends Error {
  constructor(apiVersion: string, kind: string) {
    super(`the API server serves no ${kind} in ${apiVersion}`);
  }
}

/**
 * The pause before watching again. A watch the server ends after a while (its
 * own timeout) is resumed at once; one that ends at once, again and again (a
 * proxy, a server restarting, a watch refused), backs off up to 2s, so a wait
 * never turns into a storm of requests.
 */
function watchPacer(deadline: number): (lastedMs: number) => Promise<void> {
  let delay = 0;
  return async (lastedMs) => {
    delay = lastedMs >= 5000 ? 0 : Math.min(Math.max(delay * 2, 250), 2000);
    const wait = Math.min(delay, Math.max(0, deadline - Date.now()));
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  };
}

/** What istioctl prints when one of its calls met a passing failure. */
const ISTIOCTL_PASSING =
  /: EOF\b|connection reset|connection refused|broken pipe|TLS handshake timeout|i\/o timeout|Too Many Requests|Service Unavailable|the server is currently unable|\b(429|502|503|504)\b/i;

export const istioctlPassing = (error: unknown): boolean =>
  ISTIOCTL_PASSING.test(describeError(error));

/** Polls `attempt` with a backoff up to 2s until it gives a value; times out naming the cluster. */
export async function pollUntil<T>(
  context: string,
  what: string,
  attempt: () => Promise<Attempt<T>>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 250;
  for (;;) {
    const result = await attempt();
    if ('value' in result) return result.value;
    if (Date.now() + delay > deadline)
      throw new ClusterError(
        context,
        `timed out after ${Math.round(timeoutMs / 1000)}s waiting until ${what}: ${result.pending}. Raise 'timeout' if the cluster is slow.`,
      );
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 2000);
  }
}

export class ClusterClient implements ClusterApi {
  readonly cluster: ClusterConfig;
  readonly server: string;
  readonly timeoutMs: number;
  private readonly kc: k8s.KubeConfig;
  /** Per group/version: kind → resource name and scope, from API discovery. */
  private readonly discovered = new Map<
    string,
    Map<string, { name: string; namespaced: boolean }>
  >();
  private readonly istioctlRunner: Istioctl;
  private transientFailures = 0;
  private readonly waits = new WaitClock();
  /** Keep-alive agents by TLS identity (see agentFor). */
  private readonly agents = new Map<string, https.Agent>();
  /** Since when every call has been refused; cleared by any other answer. */
  private refusedSince: number | undefined;

  constructor(
    cluster: ClusterConfig,
    server: string,
    kubeconfigYaml: string,
    timeoutMs: number,
    istioctl: Istioctl,
  ) {
    this.cluster = cluster;
    this.server = server;
    this.timeoutMs = timeoutMs;
    this.istioctlRunner = istioctl;
    this.kc = new k8s.KubeConfig();
    this.kc.loadFromString(kubeconfigYaml);
    this.kc.setCurrentContext(cluster.context);
  }

  private fail(what: string, error: unknown): ClusterError {
    if (error instanceof ClusterError) return error;
    return new ClusterError(this.cluster.context, `${what}: ${describeError(error)}`);
  }

  /** Retries transient errors until the run's timeout; other errors stop at once. */
  async retry<T>(what: string, fn: () => Promise<T>, timeoutMs = this.timeoutMs): Promise<T> {
    try {
      return await pRetry(
        async () => {
          try {
            const value = await fn();
            this.refusedSince = undefined;
            return value;
          } catch (error) {
            if (!isTransient(error)) throw new AbortError(this.fail(what, error));
            if (networkCode(error) === 'ECONNREFUSED') {
              this.refusedSince ??= Date.now();
              const refusedS = (Date.now() - this.refusedSince) / 1000;
              if (refusedS * 1000 >= REFUSED_BUDGET_MS)
                throw new AbortError(
                  new ClusterError(
                    this.cluster.context,
                    `the API server at ${this.server} has refused connections for ${Math.round(refusedS)}s (${what}); the run stops here. Re-run once the cluster is back: a re-run picks up where this one stopped.`,
                  ),
                );
            } else this.refusedSince = undefined;
            this.transientFailures++;
            // Never the original: p-retry gives up at once on a TypeError it does not
            // know as a network error, and undici reports a reset mid-response as
            // `TypeError: terminated`.
            throw new Error(describeError(error), { cause: error });
          }
        },
        { retries: 1000, minTimeout: 250, maxTimeout: 5000, maxRetryTime: timeoutMs },
      );
    } catch (error) {
      throw this.fail(what, error);
    }
  }

  retries(): number {
    return this.transientFailures;
  }

  waitedMs(): number {
    return this.waits.ms();
  }

  waiting<T>(wait: () => Promise<T>): Promise<T> {
    return this.waits.during(wait);
  }

  /** Fails fast, naming the cluster and server, when the API server cannot be reached. */
  async checkReachable(): Promise<string> {
    try {
      const info = await this.retry(
        'reach the API server',
        () => this.request('GET', '/version', {}),
        Math.min(this.timeoutMs, 30_000),
      );
      return String((info as unknown as { gitVersion?: string }).gitVersion);
    } catch (error) {
      throw new ClusterError(
        this.cluster.context,
        `cannot reach the API server at ${this.server} (${describeError(error).replace(/^cluster '[^']*': /, '')}). Check that the cluster is up and that the kubeconfig for this context is current.`,
      );
    }
  }

  /** The resource serving `kind` in `apiVersion`, from discovery (a kind not served is not remembered: its CRD may come). */
  private async resource(
    apiVersion: string,
    kind: string,
  ): Promise<{ name: string; namespaced: boolean } | undefined> {
    const known = this.discovered.get(apiVersion)?.get(kind);
    if (known) return known;
    let list: { resources: { name: string; kind: string; namespaced: boolean }[] };
    try {
      list = JSON.parse(await this.send('GET', groupVersionPath(apiVersion), {})) as typeof list;
    } catch (error) {
      if (httpStatus(error) === 404 && !isTransient(error)) return undefined;
      throw error;
    }
    const kinds = new Map(
      list.resources
        .filter((r) => !r.name.includes('/'))
        .map((r) => [r.kind, { name: r.name, namespaced: r.namespaced }] as const),
    );
    this.discovered.set(apiVersion, kinds);
    return kinds.get(kind);
  }

  /** The URL path of an object, or of its collection (in its namespace, or all of them). */
  private async path(header: ObjectHeader, collection = false): Promise<string> {
    const r = await this.resource(header.apiVersion, header.kind);
    if (!r) throw new NotServed(header.apiVersion, header.kind);
    const namespace = r.namespaced
      ? (header.metadata.namespace ?? (collection ? '' : 'default'))
      : '';
    const scope = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    const name = collection ? '' : `/${encodeURIComponent(header.metadata.name)}`;
    return `${groupVersionPath(header.apiVersion)}${scope}/${r.name}${name}`;
  }

  async read(header: ObjectHeader): Promise<K8sObject | null> {
    return this.retry(`read ${objectRef(header as K8sObject)}`, async () => {
      try {
        return await this.request('GET', await this.path(header), {});
      } catch (error) {
        if (error instanceof NotServed) return null;
        if (httpStatus(error) === 404 && !isTransient(error)) return null;
        throw error;
      }
    });
  }

  async list(apiVersion: string, kind: string, options: ListOptions = {}): Promise<K8sObject[]> {
    return this.retry(`list ${kind}`, async () => {
      try {
        const header = { apiVersion, kind, metadata: { name: '', namespace: options.namespace } };
        const query: Record<string, string> = {};
        if (options.labelSelector) query.labelSelector = options.labelSelector;
        if (options.fieldSelector) query.fieldSelector = options.fieldSelector;
        const result = (await this.request('GET', await this.path(header, true), query)) as {
          items?: K8sObject[];
        };
        return (result.items ?? []).map((item) => ({ ...item, apiVersion, kind }) as K8sObject);
      } catch (error) {
        // A kind whose CRD is not installed has nothing of ours to list.
        if (error instanceof NotServed) return [];
        if (httpStatus(error) === 404 && !isTransient(error)) return [];
        throw error;
      }
    });
  }

  async servedKinds(): Promise<ServedKind[]> {
    interface ResourceList {
      groupVersion: string;
      resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
    }
    interface GroupList {
      groups: { preferredVersion: { groupVersion: string } }[];
    }
    const get = async <T>(path: string): Promise<T> =>
      (await this.request('GET', path, {}, '', 'application/json')) as unknown as T;
    return this.retry('discover the served kinds', async () => {
      const groups = await get<GroupList>('/apis');
      const lists = await Promise.all([
        get<ResourceList>('/api/v1'),
        ...groups.groups.map((g) => get<ResourceList>(`/apis/${g.preferredVersion.groupVersion}`)),
      ]);
      return lists.flatMap((list) =>
        list.resources
          // Subresources (pods/log, …) are no kinds of their own.
          .filter((r) => !r.name.includes('/'))
          .filter((r) => r.verbs.includes('list') && r.verbs.includes('delete'))
          .map((r) => ({ apiVersion: list.groupVersion, kind: r.kind, namespaced: r.namespaced })),
      );
    });
  }

  /**
   * One raw request to the API server. Apply bodies go out as the JSON we
   * rendered: the client's typed serializer drops keys it models under other
   * names (a CRD schema's `x-kubernetes-preserve-unknown-fields`, `enum`,
   * `default`), which would silently corrupt what we apply.
   */
  private async request(...call: Parameters<ClusterClient['send']>): Promise<K8sObject> {
    return JSON.parse(await this.send(...call)) as K8sObject;
  }

  /**
   * One keep-alive agent per TLS identity: the client library hands out a new
   * agent per call, and a TLS handshake and secure context per call cost the
   * run (and the API server) more than the calls themselves.
   */
  private agentFor(options: https.RequestOptions): https.Agent {
    const tls = {
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      pfx: options.pfx,
      passphrase: options.passphrase,
      servername: options.servername,
      ...(options.rejectUnauthorized === undefined
        ? {}
        : { rejectUnauthorized: options.rejectUnauthorized }),
    };
    const key = JSON.stringify(tls);
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new https.Agent({ ...tls, keepAlive: true });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** Opens one request with the kubeconfig's TLS settings and credentials. */
  private async open(
    method: string,
    path: string,
    query: Record<string, string>,
    contentType: string,
    onResponse: (res: http.IncomingMessage) => void,
  ): Promise<http.ClientRequest> {
    const options: https.RequestOptions = { method, headers: {} };
    // Per call, so a credential plugin's token is renewed when it expires.
    await this.kc.applyToHTTPSOptions(options);
    const base = this.kc.getCurrentCluster()?.server.replace(/\/+$/, '') ?? this.server;
    const url = new URL(base + path);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    const transport = url.protocol === 'http:' ? http : https;
    options.agent = url.protocol === 'http:' ? undefined : this.agentFor(options);
    return transport.request(
      url,
      {
        ...options,
        headers: { ...options.headers, 'Content-Type': contentType, Accept: 'application/json' },
      },
      onResponse,
    );
  }

  /** One call, its whole answer as text; a status of 400 or more rejects with it. */
  private async send(
    method: string,
    path: string,
    query: Record<string, string>,
    body = '',
    contentType = 'application/json',
  ): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      void this.open(method, path, query, contentType, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 400)
            reject(Object.assign(new Error(`HTTP ${status}`), { code: status, body: text }));
          else resolve(text);
        });
        res.on('error', reject);
      })
        .then((r) => {
          r.setTimeout(60_000, () =>
            r.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })),
          );
          r.on('error', reject);
          // Node frames no body of a DELETE by itself: unframed, the server
          // never reads it, and a kept-alive connection takes it for the next request.
          r.setHeader('Content-Length', Buffer.byteLength(body));
          r.end(body);
        })
        .catch(reject);
    });
  }

  /** Server-side apply; reports whether the object was created, changed or left as it was. */
  async applyOne(object: K8sObject, fieldManager = FIELD_MANAGER): Promise<ApplyRecord> {
    const ref = objectRef(object);
    let before = await this.read(object);
    if (before?.metadata.deletionTimestamp) {
      // Still being deleted (a cleanup just before, a finalizer at work): whatever is applied to
      // it now goes with it, so it is waited out and created again.
      await this.waitForGone(object);
      before = null;
    }
    const plan = planApply(before, object);
    if ('refuse' in plan) throw new ClusterError(this.cluster.context, plan.refuse);
    // A shared (foreign) object is not marked with our digest: it is not ours to annotate.
    const body = plan.foreign ? plan.body : withAppliedDigest(plan.body);
    if (before && !plan.foreign && holdsApplied(before, body)) return { ref, action: 'unchanged' };
    const after = await this.retry(`apply ${ref}`, async () => {
      // Just after its CRD is Established, a kind may not be in discovery yet: as
      // the API server says then, "could not find the requested resource" (retried).
      const path = await this.path(body).catch((error: unknown) => {
        throw error instanceof NotServed
          ? Object.assign(error, {
              code: 404,
              body: { message: 'the server could not find the requested resource' },
            })
          : error;
      });
      return this.request(
        'PATCH',
        path,
        { fieldManager, force: 'true' },
        JSON.stringify(body),
        'application/apply-patch+yaml',
      );
    });
    const action: ApplyAction = !before
      ? 'created'
      : before.metadata.resourceVersion === after.metadata?.resourceVersion
        ? 'unchanged'
        : 'changed';
    return plan.foreign ? { ref, action, foreign: true } : { ref, action };
  }

  /**
   * Dry-run create: admission (webhooks included) answers without persisting
   * anything. Returns the object as admission left it, so a caller can see
   * what a mutating webhook did.
   */
  async dryRunCreate(object: K8sObject): Promise<K8sObject> {
    return this.request(
      'POST',
      await this.path(object, true),
      { dryRun: 'All', fieldManager: FIELD_MANAGER },
      JSON.stringify(object),
    );
  }

  /**
   * Polls `attempt` with backoff until it yields a value, for conditions no
   * watch can show (a webhook that answers, a server that reports). The last
   * pending reason goes into the timeout message.
   */
  until<T>(
    what: string,
    attempt: () => Promise<Attempt<T>>,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    return this.waits.during(() => pollUntil(this.cluster.context, what, attempt, timeoutMs));
  }

  async delete(header: ObjectHeader): Promise<'deleted' | 'absent'> {
    return this.retry(`delete ${objectRef(header as K8sObject)}`, async () => {
      try {
        const options = {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: 'Background',
        };
        await this.request('DELETE', await this.path(header), {}, JSON.stringify(options));
        return 'deleted';
      } catch (error) {
        if (error instanceof NotServed) return 'absent';
        if (httpStatus(error) === 404 && !isTransient(error)) return 'absent';
        throw error;
      }
    });
  }

  async create(object: K8sObject): Promise<K8sObject | 'conflict'> {
    return this.writeOrConflict('POST', 'create', object, JSON.stringify(object));
  }

  async replace(object: K8sObject): Promise<K8sObject | 'conflict'> {
    return this.writeOrConflict('PUT', 'replace', object, JSON.stringify(object));
  }

  async deleteIfUnchanged(
    header: ObjectHeader,
    resourceVersion: string,
  ): Promise<'deleted' | 'absent' | 'conflict'> {
    const body = JSON.stringify({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      preconditions: { resourceVersion },
    });
    try {
      const done = await this.writeOrConflict('DELETE', 'delete', header as K8sObject, body);
      return done === 'conflict' ? 'conflict' : 'deleted';
    } catch (error) {
      if (/HTTP 404/.test(describeError(error))) return 'absent';
      throw error;
    }
  }

  private async writeOrConflict(
    method: string,
    action: string,
    object: K8sObject,
    body: string,
  ): Promise<K8sObject | 'conflict'> {
    return this.retry(`${action} ${objectRef(object)}`, async () => {
      const path = await this.path(object, action === 'create');
      try {
        const query: Record<string, string> =
          method === 'DELETE' ? {} : { fieldManager: FIELD_MANAGER };
        return await this.request(method, path, query, body, 'application/json');
      } catch (error) {
        if (httpStatus(error) === 409) return 'conflict';
        throw error;
      }
    });
  }

  /** Patches the status subresource (cert-manager's "renew now" is a status condition). */
  async patchStatus(header: ObjectHeader, status: Record<string, unknown>): Promise<void> {
    await this.retry(`update status of ${objectRef(header as K8sObject)}`, async () =>
      this.request(
        'PATCH',
        `${await this.path(header)}/status`,
        {},
        JSON.stringify({ status }),
        'application/merge-patch+json',
      ),
    );
  }

  /**
   * Waits, by watch, until `done` holds for the named object. Returns the object.
   * `describe` says what is still missing, for the timeout message.
   */
  waitFor(
    header: ObjectHeader,
    done: (o: K8sObject) => boolean,
    describe: (o: K8sObject | null) => string | Promise<string>,
    timeoutMs = this.timeoutMs,
  ): Promise<K8sObject> {
    return this.waits.during(() => this.watchFor(header, done, describe, timeoutMs));
  }

  private async watchFor(
    header: ObjectHeader,
    done: (o: K8sObject) => boolean,
    describe: (o: K8sObject | null) => string | Promise<string>,
    timeoutMs: number,
  ): Promise<K8sObject> {
    const deadline = Date.now() + timeoutMs;
    const pause = watchPacer(deadline);
    let last: K8sObject | null = null;
    while (Date.now() < deadline) {
      last = await this.read(header);
      if (last && done(last)) return last;
      const started = Date.now();
      const seen = await this.watchUntil(header, done, deadline, last?.metadata.resourceVersion);
      if (seen) return seen;
      await pause(Date.now() - started);
    }
    throw this.timedOut(header, timeoutMs, await describe(last));
  }

  private timedOut(header: ObjectHeader, timeoutMs: number, what: string): ClusterError {
    return new ClusterError(
      this.cluster.context,
      `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${objectRef(header as K8sObject)}: ${what}. Raise 'timeout' if the cluster is slow.`,
    );
  }

  /** Waits, by watch, until the named object no longer exists. */
  waitForGone(header: ObjectHeader, timeoutMs = this.timeoutMs): Promise<void> {
    return this.waits.during(() => this.watchGone(header, timeoutMs));
  }

  private async watchGone(header: ObjectHeader, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pause = watchPacer(deadline);
    while (Date.now() < deadline) {
      const current = await this.read(header);
      if (!current) return;
      const started = Date.now();
      if (
        await this.watchUntil(header, () => false, deadline, current.metadata.resourceVersion, true)
      )
        return;
      await pause(Date.now() - started);
    }
    throw this.timedOut(header, timeoutMs, 'it still exists (finalizers or terminating pods?)');
  }

  /** One watch call; resolves with the object once `done` holds, or null when the watch ends first. */
  private async watchUntil(
    header: ObjectHeader,
    done: (o: K8sObject) => boolean,
    deadline: number,
    resourceVersion: string | undefined,
    untilDeleted = false,
  ): Promise<K8sObject | null> {
    const listPath = await this.retry('discover API', () => this.path(header, true));
    const remainingS = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const query: Record<string, string> = {
      watch: 'true',
      fieldSelector: `metadata.name=${header.metadata.name}`,
      timeoutSeconds: String(Math.min(remainingS, 300)),
      ...(resourceVersion ? { resourceVersion, allowWatchBookmarks: 'true' } : {}),
    };
    return new Promise<K8sObject | null>((resolve) => {
      let request: http.ClientRequest | undefined;
      let settled = false;
      const finish = (value: K8sObject | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request?.destroy();
        resolve(value);
      };
      const timer = setTimeout(() => finish(null), deadline - Date.now());
      const onEvent = (line: string): void => {
        let event: { type?: string; object?: K8sObject };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          return;
        }
        const object = event.object as K8sObject;
        if (untilDeleted && event.type === 'DELETED') finish(object);
        else if ((event.type === 'ADDED' || event.type === 'MODIFIED') && done(object))
          finish(object);
      };
      // A watch streams one JSON event a line; any end (its timeout, an error status, a reset) is no answer.
      void this.open('GET', listPath, query, 'application/json', (res) => {
        if ((res.statusCode ?? 0) >= 400) {
          res.resume();
          return finish(null);
        }
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          pending += chunk;
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) if (line.trim() !== '') onEvent(line);
        });
        res.on('end', () => finish(null));
        res.on('error', () => finish(null));
        res.on('close', () => finish(null));
      })
        .then((r) => {
          request = r;
          r.on('error', () => finish(null));
          if (settled) r.destroy();
          else r.end();
        })
        .catch(() => finish(null));
    });
  }

  /**
   * istioctl against this cluster. Its own calls meet the same flaky network
   * as ours, and it does not retry them: a run it ended on a dropped or
   * refused connection, or on a 429/5xx, is run again under the same policy.
   */
  async istioctl(args: string[]): Promise<string> {
    return this.retry(`istioctl ${args.slice(0, 2).join(' ')}`, () =>
      this.istioctlRunner
        .run([...args, `--context=${this.cluster.context}`])
        .catch((error: unknown) => {
          throw istioctlPassing(error)
            ? Object.assign(new Error(describeError(error)), { code: 'ECONNRESET' })
            : error;
        }),
    );
  }

  async podLog(
    namespace: string,
    name: string,
    container: string,
    sinceSeconds: number,
  ): Promise<string> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/log`;
    return this.retry(`read the log of ${namespace}/${name}`, () =>
      this.send('GET', path, { container, sinceSeconds: String(sinceSeconds) }),
    );
  }

  /** Runs a command in a container through the API server; never throws on a non-zero exit. */
  async exec(
    namespace: string,
    pod: string,
    container: string,
    command: string[],
    options: { stdin?: string; timeoutMs?: number } = {},
  ): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    const exec = new k8s.Exec(this.kc);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    stdout.on('data', (chunk: Buffer) => out.push(chunk));
    stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const what = `exec in ${namespace}/${pod} (${container})`;
    const once = (): Promise<number | null> =>
      new Promise<number | null>((resolve, reject) => {
        // A retried attempt starts from empty output, never appends to a failed one's.
        out.length = 0;
        err.length = 0;
        const stdin =
          options.stdin === undefined ? null : Readable.from([Buffer.from(options.stdin)]);
        let socket: { close(): void } | undefined;
        let timedOut = false;
        const timer = setTimeout(
          () => {
            // An open socket would keep the action's process alive.
            timedOut = true;
            socket?.close();
            reject(
              new ClusterError(
                this.cluster.context,
                `${what} timed out after ${Math.round(timeoutMs / 1000)}s`,
              ),
            );
          },
          Math.max(0, deadline - Date.now()),
        );
        exec
          .exec(namespace, pod, container, command, stdout, stderr, stdin, false, (status) => {
            clearTimeout(timer);
            if (status.status === 'Success') resolve(0);
            else {
              const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
              resolve(cause?.message ? Number(cause.message) : -1);
            }
          })
          .then((ws) => {
            socket = ws;
            if (timedOut) ws.close();
            // A status frame, when one comes, arrives before the close.
            ws.on('close', () => {
              clearTimeout(timer);
              resolve(null);
            });
          })
          .catch((error: unknown) => {
            clearTimeout(timer);
            // client-node rejects a failed handshake with the WebSocket's
            // ErrorEvent, no Error, its HTTP status only in the message: as a
            // status code it is judged and described like any API error.
            const inner = (error as { error?: unknown } | null)?.error ?? error;
            const message = inner instanceof Error ? inner.message : String(inner);
            const status = /Unexpected server response: (\d{3})/.exec(message)?.[1];
            reject(
              status
                ? Object.assign(new Error(message), {
                    code: Number(status),
                    body: { message: `the exec was refused (${message})` },
                  })
                : inner,
            );
          });
      });
    // A refused handshake ran nothing, so the client's retry policy is safe here.
    const exitCode = await this.retry(what, once, timeoutMs);
    return {
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
      exitCode,
    };
  }
}
