// The one place that talks to a cluster: server-side apply with our field
// manager, read, list, delete, wait by watch, exec. Transient failures are
// retried within the run's timeout; everything else becomes a ClusterError.
import http from 'node:http';
import https from 'node:https';
import { PassThrough, Readable } from 'node:stream';
import pRetry, { AbortError } from 'p-retry';
import * as k8s from '@kubernetes/client-node';
import { FIELD_MANAGER, type ClusterConfig } from '../config.ts';
import { objectRef, type K8sObject } from '../k8s-object.ts';
import { ClusterError, describeError, httpStatus, isTransient } from './errors.ts';
import { planApply } from './ownership.ts';

export type ApplyAction = 'created' | 'changed' | 'unchanged' | 'deleted';
export interface ApplyRecord {
  ref: string;
  action: ApplyAction;
  /** The object existed without our label: shared, never taken over or deleted. */
  foreign?: boolean;
}

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

type Header = Pick<K8sObject, 'apiVersion' | 'kind'> & {
  metadata: { name: string; namespace?: string };
};

interface UriPathApi {
  specUriPath(spec: object, action: string): Promise<string>;
}

export class ClusterClient {
  readonly cluster: ClusterConfig;
  readonly server: string;
  readonly timeoutMs: number;
  private readonly kc: k8s.KubeConfig;
  private readonly objects: k8s.KubernetesObjectApi;

  constructor(cluster: ClusterConfig, server: string, kubeconfigYaml: string, timeoutMs: number) {
    this.cluster = cluster;
    this.server = server;
    this.timeoutMs = timeoutMs;
    this.kc = new k8s.KubeConfig();
    this.kc.loadFromString(kubeconfigYaml);
    this.kc.setCurrentContext(cluster.context);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(this.kc);
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
            return await fn();
          } catch (error) {
            if (isTransient(error)) throw error instanceof Error ? error : new Error(String(error));
            throw new AbortError(this.fail(what, error));
          }
        },
        { retries: 1000, minTimeout: 250, maxTimeout: 5000, maxRetryTime: timeoutMs },
      );
    } catch (error) {
      throw this.fail(what, error);
    }
  }

  /** Fails fast, naming the cluster and server, when the API server cannot be reached. */
  async checkReachable(): Promise<string> {
    const version = this.kc.makeApiClient(k8s.VersionApi);
    try {
      const info = await this.retry(
        'reach the API server',
        () => version.getCode(),
        Math.min(this.timeoutMs, 30_000),
      );
      return info.gitVersion;
    } catch (error) {
      throw new ClusterError(
        this.cluster.context,
        `cannot reach the API server at ${this.server} (${describeError(error).replace(/^cluster '[^']*': /, '')}). Check that the cluster is up and that the kubeconfig for this context is current.`,
      );
    }
  }

  async read(header: Header): Promise<K8sObject | null> {
    return this.retry(`read ${objectRef(header as K8sObject)}`, async () => {
      try {
        return (await this.objects.read(header)) as unknown as K8sObject;
      } catch (error) {
        if (httpStatus(error) === 404 && !isTransient(error)) return null;
        throw error;
      }
    });
  }

  async list(
    apiVersion: string,
    kind: string,
    options: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<K8sObject[]> {
    return this.retry(`list ${kind}`, async () => {
      try {
        const result = await this.objects.list(
          apiVersion,
          kind,
          options.namespace,
          undefined,
          undefined,
          undefined,
          options.fieldSelector,
          options.labelSelector,
        );
        return (result.items ?? []).map((item) => ({ apiVersion, kind, ...item }) as K8sObject);
      } catch (error) {
        // A kind whose CRD is not installed has nothing of ours to list.
        if (/Unrecognized API version and kind/.test(String((error as Error).message))) return [];
        if (httpStatus(error) === 404 && !isTransient(error)) return [];
        throw error;
      }
    });
  }

  /**
   * One raw request to the API server. Apply bodies go out as the JSON we
   * rendered: the client's typed serializer drops keys it models under other
   * names (a CRD schema's `x-kubernetes-preserve-unknown-fields`, `enum`,
   * `default`), which would silently corrupt what we apply.
   */
  private async request(
    method: string,
    path: string,
    query: Record<string, string>,
    body: string,
    contentType: string,
  ): Promise<K8sObject> {
    const options: https.RequestOptions = { method, headers: {} };
    await this.kc.applyToHTTPSOptions(options);
    const base = this.kc.getCurrentCluster()?.server.replace(/\/+$/, '') ?? this.server;
    const url = new URL(base + path);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise<K8sObject>((resolve, reject) => {
      const req = transport.request(
        url,
        {
          ...options,
          headers: { ...options.headers, 'Content-Type': contentType, Accept: 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 400)
              reject(Object.assign(new Error(`HTTP ${status}`), { code: status, body: text }));
            else resolve(JSON.parse(text) as K8sObject);
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(60_000, () =>
        req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })),
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Server-side apply; reports whether the object was created, changed or left as it was. */
  async applyOne(object: K8sObject, fieldManager = FIELD_MANAGER): Promise<ApplyRecord> {
    const ref = objectRef(object);
    const before = await this.read(object);
    const plan = planApply(before, object);
    if ('refuse' in plan) throw new ClusterError(this.cluster.context, plan.refuse);
    const after = await this.retry(`apply ${ref}`, async () => {
      const path = await (this.objects as unknown as UriPathApi).specUriPath(
        { ...plan.body, metadata: { ...plan.body.metadata } },
        'patch',
      );
      return this.request(
        'PATCH',
        path,
        { fieldManager, force: 'true' },
        JSON.stringify(plan.body),
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
    return (await this.objects.create(
      object as k8s.KubernetesObject,
      undefined,
      'All',
      FIELD_MANAGER,
    )) as unknown as K8sObject;
  }

  /**
   * Polls `attempt` with backoff until it yields a value, for conditions no
   * watch can show (a webhook that answers, a server that reports). The last
   * pending reason goes into the timeout message.
   */
  async until<T>(
    what: string,
    attempt: () => Promise<Attempt<T>>,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let delay = 250;
    for (;;) {
      const result = await attempt();
      if ('value' in result) return result.value;
      if (Date.now() + delay > deadline)
        throw new ClusterError(
          this.cluster.context,
          `timed out after ${Math.round(timeoutMs / 1000)}s waiting until ${what}: ${result.pending}. Raise 'timeout' if the cluster is slow.`,
        );
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }

  async delete(header: Header): Promise<'deleted' | 'absent'> {
    return this.retry(`delete ${objectRef(header as K8sObject)}`, async () => {
      try {
        await this.objects.delete(header, undefined, undefined, undefined, undefined, 'Background');
        return 'deleted';
      } catch (error) {
        if (httpStatus(error) === 404 && !isTransient(error)) return 'absent';
        throw error;
      }
    });
  }

  /** Patches the status subresource (cert-manager's "renew now" is a status condition). */
  async patchStatus(header: Header, status: Record<string, unknown>): Promise<void> {
    const path = await (this.objects as unknown as UriPathApi).specUriPath({ ...header }, 'read');
    const custom = this.kc.makeApiClient(k8s.CustomObjectsApi);
    const [group, version] = header.apiVersion.split('/') as [string, string];
    const plural = path.split('/').at(-2) as string;
    await this.retry(`update status of ${objectRef(header as K8sObject)}`, () =>
      custom.patchNamespacedCustomObjectStatus(
        {
          group,
          version,
          namespace: header.metadata.namespace ?? '',
          plural,
          name: header.metadata.name,
          body: { status },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    );
  }

  /**
   * Waits, by watch, until `done` holds for the named object. Returns the object.
   * `describe` says what is still missing, for the timeout message.
   */
  async waitFor(
    header: Header,
    done: (o: K8sObject) => boolean,
    describe: (o: K8sObject | null) => string,
    timeoutMs = this.timeoutMs,
  ): Promise<K8sObject> {
    const deadline = Date.now() + timeoutMs;
    let last: K8sObject | null = null;
    while (Date.now() < deadline) {
      last = await this.read(header);
      if (last && done(last)) return last;
      const seen = await this.watchUntil(header, done, deadline, last?.metadata.resourceVersion);
      if (seen) return seen;
    }
    throw this.timedOut(header, timeoutMs, describe(last));
  }

  private timedOut(header: Header, timeoutMs: number, what: string): ClusterError {
    return new ClusterError(
      this.cluster.context,
      `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${objectRef(header as K8sObject)}: ${what}. Raise 'timeout' if the cluster is slow.`,
    );
  }

  /** Waits, by watch, until the named object no longer exists. */
  async waitForGone(header: Header, timeoutMs = this.timeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const current = await this.read(header);
      if (!current) return;
      if (
        await this.watchUntil(header, () => false, deadline, current.metadata.resourceVersion, true)
      )
        return;
    }
    throw this.timedOut(header, timeoutMs, 'it still exists (finalizers or terminating pods?)');
  }

  /** One watch call; resolves with the object once `done` holds, or null when the watch ends first. */
  private async watchUntil(
    header: Header,
    done: (o: K8sObject) => boolean,
    deadline: number,
    resourceVersion: string | undefined,
    untilDeleted = false,
  ): Promise<K8sObject | null> {
    const listPath = await this.retry('discover API', () =>
      (this.objects as unknown as UriPathApi).specUriPath(
        {
          apiVersion: header.apiVersion,
          kind: header.kind,
          metadata: { namespace: header.metadata.namespace },
        },
        'list',
      ),
    );
    const remainingS = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const watch = new k8s.Watch(this.kc);
    return new Promise<K8sObject | null>((resolve) => {
      let controller: AbortController | undefined;
      let settled = false;
      const finish = (value: K8sObject | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        controller?.abort();
        resolve(value);
      };
      const timer = setTimeout(() => finish(null), deadline - Date.now());
      watch
        .watch(
          listPath,
          {
            fieldSelector: `metadata.name=${header.metadata.name}`,
            timeoutSeconds: Math.min(remainingS, 300),
            ...(resourceVersion ? { resourceVersion, allowWatchBookmarks: true } : {}),
          },
          (type, object) => {
            if (untilDeleted && type === 'DELETED') finish(object as K8sObject);
            else if ((type === 'ADDED' || type === 'MODIFIED') && done(object as K8sObject))
              finish(object as K8sObject);
          },
          () => finish(null),
        )
        .then((c) => {
          controller = c;
          if (settled) c.abort();
        })
        .catch(() => finish(null));
    });
  }

  async podLog(
    namespace: string,
    name: string,
    container: string,
    sinceSeconds: number,
  ): Promise<string> {
    const core = this.kc.makeApiClient(k8s.CoreV1Api);
    return this.retry(`read the log of ${namespace}/${name}`, () =>
      core.readNamespacedPodLog({ name, namespace, container, sinceSeconds }),
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
