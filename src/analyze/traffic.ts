// Traffic through the mesh, judged from what the sleep pod's curl saw.
// East-west: requests to helloworld must reach every version, each living in
// its own cluster (v1 in the first, v2 in the second), with no failure.
// North-south: through the second cluster's ingress gateway, only v2 answers.
//
// The lead runs `trafficScript(url, n)` in the sleep pod and feeds its stdout to
// `parseTrafficOutput`. One request prints:
//   @@mesh-federation begin <i>
//   <response body, verbatim>
//   @@mesh-federation meta <http_code> <time_total seconds>
//   @@mesh-federation end <i> <curl exit code>
// curl's -w text starts with a newline, so a body without one still ends its line.

import { failed, passed, truncate, type Check } from '../model/check.ts';
import type { TrafficSummary, VersionStats } from '../model/evidence.ts';

export interface TrafficSample {
  ok: boolean;
  /** HTTP status; 0 when no response arrived. */
  status: number;
  body: string;
  ms: number;
  /** Why the request failed at transport level (curl's exit code, named). */
  error?: string;
}

export interface HelloAnswer {
  version: string;
  instance: string;
}

const HELLO = /Hello version: ([^,\s]+), instance: (\S+)/;

/** "Hello version: v1, instance: helloworld-v1-6bb5b589d6-jq4gn" */
export function parseHelloBody(body: string): HelloAnswer | undefined {
  const m = HELLO.exec(body);
  return m ? { version: m[1] as string, instance: m[2] as string } : undefined;
}

const MARK = '@@mesh-federation';

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface TrafficScriptOptions {
  /** Upper bound of one request, seconds (curl --max-time). */
  maxTimeSeconds?: number;
  connectTimeoutSeconds?: number;
}

/**
 * A POSIX sh loop for the sleep pod: `n` sequential curl requests, each bounded
 * by --max-time, so the whole run takes at most n * maxTimeSeconds.
 */
export function trafficScript(url: string, n: number, options: TrafficScriptOptions = {}): string {
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw new RangeError(`request count must be 1..10000, got ${n}`);
  if (!url || /[\s\p{Cc}]/u.test(url))
    throw new Error(`invalid URL for the traffic check: ${JSON.stringify(url)}`);
  const maxTime = options.maxTimeSeconds ?? 5;
  const connect = options.connectTimeoutSeconds ?? Math.min(3, maxTime);
  for (const t of [maxTime, connect]) {
    if (!(t > 0 && t <= 300)) throw new RangeError(`timeout must be in (0, 300] seconds, got ${t}`);
  }
  return [
    'i=0',
    `while [ "$i" -lt ${n} ]; do`,
    '  i=$((i + 1))',
    `  echo "${MARK} begin $i"`,
    `  curl -s --connect-timeout ${connect} --max-time ${maxTime} -w '\\n${MARK} meta %{http_code} %{time_total}\\n' ${shellQuote(url)}`,
    `  echo "${MARK} end $i $?"`,
    'done',
    '',
  ].join('\n');
}

const CURL_ERRORS: Record<number, string> = {
  3: 'malformed URL',
  6: 'could not resolve host',
  7: 'connection refused',
  18: 'partial response',
  28: 'timed out',
  35: 'TLS handshake failed',
  52: 'empty reply',
  56: 'connection reset',
  60: 'server certificate not trusted',
};

const curlError = (code: number): string =>
  `curl exit ${code}${CURL_ERRORS[code] ? ` (${CURL_ERRORS[code]})` : ''}`;

/** Samples from the script's stdout, in order; a request cut off mid-way counts as failed. */
export function parseTrafficOutput(stdout: string): TrafficSample[] {
  const samples: TrafficSample[] = [];
  let open: { body: string[]; status?: number; ms?: number; meta: boolean } | undefined;
  const close = (exit: number | undefined): void => {
    if (!open) return;
    const status = open.status ?? 0;
    const error =
      exit === undefined
        ? 'output cut off before the request finished'
        : exit !== 0
          ? curlError(exit)
          : undefined;
    samples.push({
      ok: exit === 0 && status >= 200 && status < 300,
      status,
      body: open.body.join('\n'),
      ms: open.ms ?? 0,
      ...(error ? { error } : {}),
    });
    open = undefined;
  };
  for (const raw of stdout.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith(`${MARK} `)) {
      const [, kind, a, b] = line.split(' ');
      if (kind === 'begin') {
        close(undefined);
        open = { body: [], meta: false };
        continue;
      }
      if (kind === 'meta' && open) {
        open.meta = true;
        open.status = Number.parseInt(a ?? '', 10) || 0;
        const seconds = Number.parseFloat(b ?? '');
        open.ms = Number.isFinite(seconds) ? Math.round(seconds * 10_000) / 10 : 0;
        continue;
      }
      if (kind === 'end' && open) {
        const exit = Number.parseInt(b ?? '', 10);
        close(Number.isNaN(exit) ? undefined : exit);
        continue;
      }
    }
    if (open && !open.meta) open.body.push(line);
  }
  close(undefined);
  return samples;
}

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: number[], p: number): number =>
  sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;

const failureKind = (s: TrafficSample): string =>
  s.error ?? (s.status ? `HTTP ${s.status}` : 'no response');

export function summarizeTraffic(
  samples: readonly TrafficSample[],
  clusterOf: Record<string, string> = {},
): TrafficSummary {
  const versions: Record<string, VersionStats> = {};
  const failures: Record<string, number> = {};
  let unrecognized = 0;
  for (const s of samples) {
    if (!s.ok) {
      const kind = failureKind(s);
      failures[kind] = (failures[kind] ?? 0) + 1;
      continue;
    }
    const answer = parseHelloBody(s.body);
    if (!answer) {
      unrecognized++;
      continue;
    }
    const stats = (versions[answer.version] ??= {
      count: 0,
      share: 0,
      ...(clusterOf[answer.version] ? { cluster: clusterOf[answer.version] } : {}),
      instances: [],
    });
    stats.count++;
    if (!stats.instances.includes(answer.instance)) stats.instances.push(answer.instance);
  }
  for (const stats of Object.values(versions)) stats.share = stats.count / samples.length;
  const times = samples
    .filter((s) => s.ok)
    .map((s) => s.ms)
    .toSorted((a, b) => a - b);
  const failedCount = samples.filter((s) => !s.ok).length;
  return {
    total: samples.length,
    succeeded: samples.length - failedCount,
    failed: failedCount,
    versions,
    unrecognized,
    failures,
    ...(times.length
      ? {
          latencyMs: {
            p50: percentile(times, 50),
            p95: percentile(times, 95),
            max: times.at(-1) as number,
          },
        }
      : {}),
  };
}

const pct = (share: number): string => `${Math.round(share * 100)}%`;

const describeVersions = (summary: TrafficSummary): string =>
  Object.entries(summary.versions)
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([v, s]) => `${v}${s.cluster ? ` (${s.cluster})` : ''} ${s.count} (${pct(s.share)})`)
    .join(', ') || 'none';

const describeFailures = (summary: TrafficSummary): string =>
  Object.entries(summary.failures)
    .map(([kind, count]) => `${kind} x${count}`)
    .join(', ');

const latency = (summary: TrafficSummary): string =>
  summary.latencyMs ? `, p50 ${summary.latencyMs.p50} ms, p95 ${summary.latencyMs.p95} ms` : '';

function details(
  summary: TrafficSummary,
  samples: readonly TrafficSample[],
): Record<string, unknown> {
  const examples = samples
    .filter((s) => !s.ok || !parseHelloBody(s.body))
    .slice(0, 5)
    .map((s) => ({
      status: s.status,
      ...(s.error ? { error: s.error } : {}),
      body: truncate(s.body.trim(), 120),
    }));
  return { ...summary, ...(examples.length ? { examples } : {}) };
}

/** Reasons shared by both directions, or undefined when the samples are clean. */
function commonProblem(summary: TrafficSummary): string | undefined {
  if (summary.total === 0) return 'no samples: not a single request was made';
  if (summary.failed === summary.total) {
    return `all ${summary.total} requests failed (${describeFailures(summary)})`;
  }
  if (summary.failed > 0) {
    return `${summary.failed} of ${summary.total} requests failed (${describeFailures(summary)}); answers: ${describeVersions(summary)}`;
  }
  if (summary.unrecognized > 0) {
    return `unexpected answer: ${summary.unrecognized} of ${summary.total} responses are not a helloworld answer`;
  }
  return undefined;
}

export interface TrafficEvidence {
  /** Cluster the client (sleep pod) runs in. */
  cluster: string;
  /** Clusters in order: helloworld v1 runs in the first, v2 in the second, and so on. */
  clusters: string[];
  samples: TrafficSample[];
}

const versionClusters = (clusters: string[]): Record<string, string> =>
  Object.fromEntries(clusters.map((c, i) => [`v${i + 1}`, c]));

/** Pass when every version answered (so every cluster was reached) and nothing failed. */
export function analyzeEastWest(evidence: TrafficEvidence): Check {
  const name = 'east-west traffic';
  const clusterOf = versionClusters(evidence.clusters);
  const summary = summarizeTraffic(evidence.samples, clusterOf);
  const info = details(summary, evidence.samples);
  const common = commonProblem(summary);
  if (common) return failed(name, evidence.cluster, common, info);
  const unexpected = Object.keys(summary.versions).filter((v) => !(v in clusterOf));
  if (unexpected.length) {
    return failed(
      name,
      evidence.cluster,
      `unexpected version ${unexpected.join(', ')} answered; expected ${Object.keys(clusterOf).join(', ')}`,
      info,
    );
  }
  const missing = Object.keys(clusterOf).filter((v) => !summary.versions[v]);
  if (missing.length) {
    const answered = Object.keys(summary.versions).map((v) => `${v} (${clusterOf[v]})`);
    return failed(
      name,
      evidence.cluster,
      `only ${answered.join(', ')} answered; no answer from ${missing.map((v) => `${v} (${clusterOf[v]})`).join(', ')}`,
      info,
    );
  }
  return passed(
    name,
    evidence.cluster,
    `${describeVersions(summary)}, 0 failed${latency(summary)}`,
    info,
  );
}

/** Pass when every answer came from `expectedVersion` (the ingress cluster's helloworld; v2 with two clusters) and nothing failed. */
export function analyzeNorthSouth(evidence: TrafficEvidence & { expectedVersion?: string }): Check {
  const name = 'north-south traffic';
  const expected = evidence.expectedVersion ?? 'v2';
  const clusterOf = versionClusters(evidence.clusters);
  const summary = summarizeTraffic(evidence.samples, clusterOf);
  const info = details(summary, evidence.samples);
  const common = commonProblem(summary);
  if (common) return failed(name, evidence.cluster, common, info);
  const others = Object.entries(summary.versions).filter(([v]) => v !== expected);
  if (others.length) {
    const where = (v: string): string => (clusterOf[v] ? ` (${clusterOf[v]})` : '');
    const unknown = others.some(([v]) => !(v in clusterOf));
    const reason =
      summary.versions[expected] || unknown
        ? `unexpected version ${others.map(([v, s]) => `${v}${where(v)} answered ${s.count} of ${summary.total}`).join(', ')}; expected only ${expected}`
        : `only ${others.map(([v]) => `${v}${where(v)}`).join(', ')} answered; expected only ${expected}`;
    return failed(name, evidence.cluster, reason, info);
  }
  return passed(
    name,
    evidence.cluster,
    `${describeVersions(summary)}, 0 failed${latency(summary)}`,
    info,
  );
}
