// The rig's stand-in for webhook servers whose pods kwok never runs: an allow-all
// AdmissionReview v1 server (for Istio's injector it also fills in `image: auto`, see
// injectedImagePatch). It listens on the webhook Service's loopback ClusterIP and port
// (where the API server sends the call) and presents a certificate for the name the API
// server asks for (<service>.<namespace>.svc), signed by the rig's admission CA, which the
// controller injects into the webhook configuration's caBundle. A webhook whose own pods run
// on a real node (test/rig/node) is not answered here: ClusterIP:port is a TCP relay to them.

import { createServer, type Server } from 'node:https';
import {
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { issueCert, type CertPem } from './certs.ts';

export interface WebhookTarget {
  cluster: string;
  ip: string;
  port: number;
  /** namespace/name of the Service, for the log. */
  service: string;
  /**
   * Ready pods on a real node (test/rig/node) that serve the webhook themselves: connections to
   * ClusterIP:port are relayed to one of them at the TCP level (the API server's TLS session
   * ends in the pod, verified against the webhook's own caBundle) instead of answered here.
   */
  relayTo?: { ip: string; port: number }[];
}

type Log = (line: string) => void;

interface Listener {
  target: WebhookTarget;
  server: Server | NetServer;
  /** Open relayed connections (a net.Server has no closeAllConnections). */
  sockets: Set<Socket>;
}

const key = (t: WebhookTarget) => `${t.ip}:${t.port}`;
/** What a listener does: a change (allow-all <-> relay, other pods) replaces it. */
const mode = (t: WebhookTarget) =>
  t.relayTo ? `relay ${t.relayTo.map((b) => `${b.ip}:${b.port}`).join(',')}` : 'allow-all';

function closeListener(l: Listener): void {
  l.server.close();
  if ('closeAllConnections' in l.server) l.server.closeAllConnections();
  for (const s of l.sockets) s.destroy();
}

/** Istio's injection webhook path (`/inject`, or `/inject/cluster/<c>/net/<n>`). */
const INJECT_PATH = '/inject';
/**
 * Named so that no one mistakes it for a proxy: the rig runs no Envoy yet. A
 * real injector writes `<hub>/proxyv2:<tag>` and adds the whole sidecar; this
 * stand-in does only the one thing the rig's admission policy checks.
 */
export const STAND_IN_PROXY_IMAGE = 'mesh-rig.invalid/injector-stand-in:no-proxy';

/** JSONPatch ops that replace every `image: auto` of a Pod under review. */
function injectedImagePatch(r: NonNullable<AdmissionReview['request']>): object[] {
  if (r.kind?.kind !== 'Pod' || r.operation !== 'CREATE') return [];
  const spec = r.object?.spec ?? {};
  return (['containers', 'initContainers'] as const).flatMap((field) =>
    (spec[field] ?? []).flatMap((c, i) =>
      c.image === 'auto'
        ? [{ op: 'replace', path: `/spec/${field}/${i}/image`, value: STAND_IN_PROXY_IMAGE }]
        : [],
    ),
  );
}

interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: {
    uid?: string;
    kind?: { group?: string; kind?: string };
    operation?: string;
    namespace?: string;
    name?: string;
    object?: {
      metadata?: { name?: string; generateName?: string };
      spec?: { containers?: { image?: string }[]; initContainers?: { image?: string }[] };
    };
  };
}

export class AdmissionServers {
  private readonly listeners = new Map<string, Listener>();
  private readonly contexts = new Map<string, Promise<SecureContext>>();
  private readonly ca: CertPem;
  private readonly log: Log;

  constructor(ca: CertPem, log: Log) {
    this.ca = ca;
    this.log = log;
  }

  private context(name: string): Promise<SecureContext> {
    let ctx = this.contexts.get(name);
    if (!ctx) {
      const isIp = /^[\d.]+$/.test(name);
      ctx = issueCert(this.ca, {
        commonName: name,
        usage: 'server',
        ...(isIp ? { ips: [name] } : { dnsNames: [name] }),
      }).then((c) => createSecureContext({ cert: c.cert, key: c.key }));
      this.contexts.set(name, ctx);
    }
    return ctx;
  }

  /** Makes the set of listeners for `cluster` equal to `targets`. */
  async reconcile(cluster: string, targets: WebhookTarget[]): Promise<void> {
    const wanted = new Map(targets.map((t) => [key(t), t]));
    for (const [k, l] of this.listeners) {
      const want = wanted.get(k);
      if (l.target.cluster === cluster && (!want || mode(want) !== mode(l.target))) {
        this.listeners.delete(k);
        // The same ClusterIP:port may be bound again right below.
        await new Promise<void>((resolve) => {
          l.server.once('close', () => resolve());
          closeListener(l);
          setTimeout(resolve, 2000).unref();
        });
        this.log(`admission ${cluster} stop ${mode(l.target)} on ${k} (${l.target.service})`);
      }
    }
    for (const [k, t] of wanted) {
      if (this.listeners.has(k)) continue;
      if (t.relayTo) await this.relay(t);
      else await this.listen(t);
    }
  }

  /** TCP relay from ClusterIP:port to the webhook's own pods (round robin). */
  private async relay(t: WebhookTarget): Promise<void> {
    const backends = t.relayTo ?? [];
    const sockets = new Set<Socket>();
    let next = 0;
    const server = createNetServer((client) => {
      const b = backends[next++ % backends.length]!;
      const upstream = connect(b.port, b.ip);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      }
      client.on('error', () => upstream.destroy());
      upstream.on('error', (err) => {
        this.log(`admission ${t.cluster} relay ${key(t)} -> ${b.ip}:${b.port}: ${err.message}`);
        client.destroy();
      });
      client.pipe(upstream).pipe(client);
    });
    await this.bind(
      t,
      { target: t, server, sockets },
      `relay tcp://${key(t)} to ${mode(t).slice(6)}`,
    );
  }

  private async bind(t: WebhookTarget, l: Listener, what: string): Promise<void> {
    const { server } = l;
    this.listeners.set(key(t), l);
    await new Promise<void>((resolve) => {
      server.once('error', (err) => {
        this.listeners.delete(key(t));
        this.log(
          `admission ${t.cluster} cannot listen on ${key(t)} (${t.service}): ${err.message}`,
        );
        resolve();
      });
      server.listen(t.port, t.ip, () => {
        this.log(`admission ${t.cluster} ${what} for ${t.service}`);
        resolve();
      });
    });
  }

  private async listen(t: WebhookTarget): Promise<void> {
    // A default certificate for clients that send no SNI (IP-addressed calls).
    const fallback = await issueCert(this.ca, { commonName: t.ip, ips: [t.ip], usage: 'server' });
    const server = createServer(
      {
        cert: fallback.cert,
        key: fallback.key,
        SNICallback: (name, cb) => {
          this.context(name).then(
            (ctx) => cb(null, ctx),
            (err: Error) => cb(err),
          );
        },
      },
      (req, res) => this.handle(t, req, res),
    );
    await this.bind(t, { target: t, server, sockets: new Set() }, `serve https://${key(t)}`);
  }

  private handle(t: WebhookTarget, req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let review: AdmissionReview;
      try {
        review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview;
      } catch {
        review = {};
      }
      const r = review.request;
      if (review.kind !== 'AdmissionReview' || !r?.uid) {
        this.log(
          `admission ${t.cluster} ${t.service} ${req.url} rejected a non-AdmissionReview request`,
        );
        res.writeHead(400).end('expected an AdmissionReview');
        return;
      }
      const kind = [r.kind?.group || 'core', r.kind?.kind].join('/');
      const name =
        r.name || r.object?.metadata?.name || `${r.object?.metadata?.generateName ?? ''}*`;
      this.log(
        `admission ${t.cluster} ${t.service} ${req.url} ${r.operation} ${kind} ${r.namespace ?? ''}/${name} uid=${r.uid} allowed`,
      );
      const patch = (req.url ?? '').startsWith(INJECT_PATH) ? injectedImagePatch(r) : [];
      if (patch.length > 0)
        this.log(`admission ${t.cluster} ${t.service} filled in ${patch.length} image(s) "auto"`);
      const body = JSON.stringify({
        apiVersion: review.apiVersion ?? 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: {
          uid: r.uid,
          allowed: true,
          ...(patch.length > 0
            ? {
                patchType: 'JSONPatch',
                patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
              }
            : {}),
        },
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  }

  closeAll(): void {
    for (const l of this.listeners.values()) closeListener(l);
    this.listeners.clear();
  }
}
