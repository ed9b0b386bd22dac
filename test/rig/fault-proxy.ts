// A proxy in front of one rig API server that fails a share of the requests
// passing through it, as networks and busy API servers do: 429 with
// Retry-After, 503, or a connection reset. Loopback only, bounded (it stops
// injecting after `maxFaults`), for tests that prove a run survives them.
// It ends TLS with the API server's own serving certificate and talks to the
// API server as the rig's admin, so what reaches the server is unchanged.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { apiserverUrl, pkiPaths, type ClusterLayout } from './layout.ts';
import YAML from 'yaml';

/**
 * A write a no-op run still sends: the run lock it takes and gives back (a Lease), and dry runs
 * (admission answers, nothing is stored). Everything else in `writes` changed the cluster.
 */
export const isBookkeepingWrite = (write: string): boolean =>
  /\/leases(\/mesh-federation-run)?(\?|$)/.test(write) || /[?&]dryRun=All(&|$)/.test(write);

export type FaultKind = '429' | '503' | 'reset';

export interface FaultProxy {
  url: string;
  /** Faults injected so far, by kind. */
  faults: Record<FaultKind, number>;
  /** Requests passed through unharmed. */
  passed: number;
  /** Every passed request that may write (not GET or HEAD), as `METHOD path?query`. */
  writes: string[];
  /** Watches the proxy ended (endWatchesAfterMs). */
  watchesEnded: number;
  close(): Promise<void>;
}

/** A small seeded generator: the same run of faults for the same seed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export async function startFaultProxy(
  c: ClusterLayout,
  options: {
    rate: number;
    seed: number;
    maxFaults: number;
    /** Told of every write passed on, as it is passed on. */
    onWrite?: (write: string) => void;
    /** Told of every request passed on (reads too), as `METHOD path?query`. */
    onRequest?: (request: string) => void;
    /**
     * Ends every watch this long after it began, between two events, as an API server
     * does at its request timeout or when it shuts down: the client must watch again.
     */
    endWatchesAfterMs?: number;
  },
): Promise<FaultProxy> {
  const pki = pkiPaths(c);
  const upstream = new URL(apiserverUrl(c));
  const client = {
    ca: readFileSync(pki.caCert),
    cert: readFileSync(pki.adminCert),
    key: readFileSync(pki.adminKey),
  };
  // One upstream connection pool: a TLS handshake per proxied call would
  // slow every run through the proxy more than its faults do.
  const agent = new https.Agent({ ...client, keepAlive: true });
  const next = random(options.seed);
  const state: FaultProxy = {
    url: '',
    faults: { '429': 0, '503': 0, reset: 0 },
    passed: 0,
    writes: [],
    watchesEnded: 0,
    close: async () => {},
  };
  const total = (): number => state.faults['429'] + state.faults['503'] + state.faults.reset;
  /** A fault for this request, or none. */
  const fault = (): FaultKind | undefined => {
    if (total() >= options.maxFaults) return undefined;
    const r = next();
    if (r >= options.rate) return undefined;
    const kind: FaultKind =
      r < options.rate / 3 ? '429' : r < (2 * options.rate) / 3 ? '503' : 'reset';
    state.faults[kind]++;
    return kind;
  };
  const status = (code: number, reason: string): string =>
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason,
      code,
      message: `fault proxy: ${reason}`,
    });

  const server = https.createServer(
    { cert: readFileSync(pki.servingCert), key: readFileSync(pki.servingKey) },
    (req, res) => {
      const f = fault();
      if (f === 'reset') return req.socket.destroy();
      if (f === '429') {
        res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '1' });
        return res.end(status(429, 'TooManyRequests'));
      }
      if (f === '503') {
        res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1' });
        return res.end(status(503, 'ServiceUnavailable'));
      }
      state.passed++;
      options.onRequest?.(`${req.method} ${req.url}`);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        const write = `${req.method} ${req.url}`;
        state.writes.push(write);
        options.onWrite?.(write);
      }
      const headers = { ...req.headers, host: upstream.host };
      delete headers.authorization;
      const out = https.request(
        {
          agent,
          hostname: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          const endAfter = options.endWatchesAfterMs;
          if (!endAfter || !/[?&]watch=(true|1)(&|$)/.test(req.url ?? '')) return void up.pipe(res);
          // Events are lines: end only after a whole one, as the server would.
          let atBoundary = true;
          let ending = false;
          const end = (): void => {
            if (res.writableEnded) return;
            state.watchesEnded++;
            up.destroy();
            res.end();
          };
          up.on('data', (chunk: Buffer) => {
            if (res.writableEnded) return;
            res.write(chunk);
            atBoundary = chunk.at(-1) === 0x0a;
            if (ending && atBoundary) end();
          });
          up.on('end', () => res.end());
          setTimeout(() => {
            ending = true;
            if (atBoundary) end();
          }, endAfter).unref();
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
      res.on('close', () => out.destroy());
    },
  );
  // exec, port-forward: the handshake may be faulted like any request, then bytes flow both ways.
  server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
    const f = fault();
    if (f === 'reset') return socket.destroy();
    if (f) {
      const code = f === '429' ? 429 : 503;
      return socket.end(
        `HTTP/1.1 ${code} ${f === '429' ? 'Too Many Requests' : 'Service Unavailable'}\r\nRetry-After: 1\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${status(code, 'Injected')}`,
      );
    }
    state.passed++;
    const up = tls.connect(
      {
        ...client,
        host: upstream.hostname,
        port: Number(upstream.port),
        servername: upstream.hostname,
      },
      () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2) {
          const name = req.rawHeaders[i] as string;
          if (/^(host|authorization)$/i.test(name)) continue;
          lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
        }
        lines.push(`Host: ${upstream.host}`);
        up.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (head.length > 0) up.write(head);
        up.pipe(socket);
        socket.pipe(up);
      },
    );
    const end = (): void => {
      up.destroy();
      socket.destroy();
    };
    up.on('error', end);
    socket.on('error', end);
    up.on('close', end);
    socket.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      agent.destroy();
      server.close(() => resolve());
    });
  return state;
}

/** The kubeconfig with each cluster's server replaced by its proxy, in the rig's cluster order. */
export function throughProxies(kubeconfig: string, proxies: FaultProxy[]): string {
  const doc = YAML.parse(kubeconfig) as { clusters: { cluster: { server: string } }[] };
  for (const [i, c] of doc.clusters.entries()) c.cluster.server = (proxies[i] as FaultProxy).url;
  return YAML.stringify(doc);
}

/**
 * Runs `run` with a kubeconfig whose clusters go through counting proxies (no faults), and
 * answers the writes it sent beyond the bookkeeping ones, each as `<cluster>: <write>`, and
 * whether every proxy saw the run lock (so the run did go through them).
 */
export async function countWrites<T>(
  layout: { clusters: ClusterLayout[] },
  kubeconfig: string,
  run: (countingKubeconfig: string) => Promise<T>,
): Promise<{ result: T; writes: string[]; lockSeenEverywhere: boolean }> {
  const counting = await Promise.all(
    layout.clusters.map((c, i) => startFaultProxy(c, { rate: 0, seed: i, maxFaults: 0 })),
  );
  try {
    const result = await run(throughProxies(kubeconfig, counting));
    const writes = counting.flatMap((p, i) =>
      p.writes
        .filter((w) => !isBookkeepingWrite(w))
        .map((w) => `${layout.clusters[i]?.name}: ${w}`),
    );
    return {
      result,
      writes,
      lockSeenEverywhere: counting.every((p) => p.writes.some(isBookkeepingWrite)),
    };
  } finally {
    await Promise.all(counting.map((p) => p.close()));
  }
}
