// npm run bench [-- --pairs N --pod-delay-ms MS]
//
// The action next to the seed's way (./seed-way.ts) on a rig of its own whose
// pods take MS to become Ready, as a real node's would (default 5000: the
// Kubernetes pod start-up SLO, see the README). Each pair runs both ways from
// an empty rig, in alternating order, then each again on the installed rig
// (nothing to change); the action also runs `cleanup`, and `plan` as a
// process. It prints medians and the ratio of each pair, never one absolute
// time as the result, and writes the table as JSON and markdown.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { down, up } from '../rig/rig.ts';
import { apiserverUrl, rigLayout, type RigLayout } from '../rig/layout.ts';
import { startArtifactServer } from '../rig/artifact-server.ts';
import { rigActionInputs, rigBinaries } from '../rig/local-inputs.ts';
import { countWrites } from '../rig/fault-proxy.ts';
import { explain, ROOT, runAction, type ActionRun } from '../../__tests__/helpers/run-action.ts';
import { istioExtras, seedWay, type SeedWayTools } from './seed-way.ts';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '3' },
    'pod-delay-ms': { type: 'string', default: '5000' },
    out: { type: 'string', default: path.join(ROOT, 'bench-results') },
  },
});
const pairs = Number(values.pairs);
const podDelayMs = Number(values['pod-delay-ms']);

Object.assign(process.env, {
  MESH_RIG_INSTANCE: '4',
  MESH_RIG_STATE: '/tmp/mesh-rig-bench',
  MESH_RIG_PORT_BASE: '22000',
  MESH_RIG_POD_DELAY_MS: String(podDelayMs),
});
const layout: RigLayout = rigLayout();
const CONTEXTS = layout.clusters.map((c) => c.name);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mesh-bench-'));
const toolCache = path.join(work, 'tool-cache');
const manifestsDir = path.join(work, 'manifests');
// Peak memory of the action's process, written by the process itself as it exits.
const rssFile = path.join(work, 'max-rss');
const preload = path.join(work, 'max-rss.cjs');
fs.writeFileSync(
  preload,
  `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`,
);

const bins = rigBinaries();
const artifacts = await startArtifactServer();

interface Timed {
  ms: number;
  maxRssKiB?: number;
  writes?: number;
  /** The slowest cluster's readiness critical path, as the action measured it (result.timing). */
  readinessMs?: number;
}

async function freshRig(): Promise<string> {
  await down(layout);
  const rig = await up(layout);
  return fs.readFileSync(rig.kubeconfig, 'utf8');
}

/** The action as a runner starts it, with a tool cache kept between runs (a self-hosted runner's). */
async function action(
  phase: string,
  kubeconfig: string,
  manifests = path.join(work, 'manifests-scratch'),
): Promise<Timed & { run: ActionRun }> {
  fs.rmSync(rssFile, { force: true });
  const run = await runAction(
    {
      ...rigActionInputs(phase, kubeconfig, CONTEXTS, artifacts),
      'manifests-dir': manifests,
      // The no-op run goes through a counting proxy: the remote secrets still name the servers.
      'api-servers': layout.clusters.map(apiserverUrl).join(','),
    },
    { env: { RUNNER_TOOL_CACHE: toolCache, NODE_OPTIONS: `--require=${preload}` } },
  );
  if (run.code !== 0) throw new Error(`the action's ${phase} failed:\n${explain(run)}`);
  const maxRssKiB = Number(fs.readFileSync(rssFile, 'utf8'));
  const timing = (JSON.parse(run.outputs.result ?? '{}') as { timing?: { readinessMs: number } })
    .timing;
  return { ms: run.ms, maxRssKiB, run, readinessMs: timing?.readinessMs ?? 0 };
}

const kubeconfigFile = path.join(work, 'kubeconfig');
const seedTools: SeedWayTools = {
  kubectl: bins.kubectl,
  istioctl: bins.istioctl,
  kubeconfigFile,
  manifestsDir,
  workDir: path.join(work, 'seed'),
  contexts: CONTEXTS,
  trustDomains: layout.clusters.map((c) => c.trustDomain),
};
let extras: Awaited<ReturnType<typeof istioExtras>> | undefined;

async function seed(kubeconfig: string): Promise<Timed> {
  fs.writeFileSync(kubeconfigFile, kubeconfig, { mode: 0o600 });
  extras ??= await istioExtras(seedTools);
  const started = Date.now();
  await seedWay(seedTools, extras);
  return { ms: Date.now() - started };
}

type Row = Record<string, Timed>;
const rows: Row[] = [];
const log = (line: string): void => void process.stdout.write(`${line}\n`);

// A first `all` renders the manifests the seed's way applies, and warms the tool cache.
log(`bench: warm-up on a fresh rig (pod start ${podDelayMs} ms)`);
await action('all', await freshRig(), manifestsDir);

for (let pair = 0; pair < pairs; pair++) {
  const row: Row = {};
  const actionFirst = pair % 2 === 0;
  for (const way of actionFirst ? ['action', 'seed'] : ['seed', 'action']) {
    const kubeconfig = await freshRig();
    if (way === 'action') {
      row.actionAll = await action('all', kubeconfig);
      row.actionNoop = await action('all', kubeconfig);
      // Counted apart, so the proxy's own latency is in no timing.
      const counted = await countWrites(layout, kubeconfig, (proxied) => action('all', proxied));
      row.actionNoop.writes = counted.writes.length;
      row.actionCleanup = await action('cleanup', kubeconfig);
      const plan = await action('plan', kubeconfig);
      row.actionPlan = plan;
    } else {
      row.seedAll = await seed(kubeconfig);
      row.seedNoop = await seed(kubeconfig);
    }
  }
  rows.push(row);
  log(
    `pair ${pair + 1}/${pairs}: ${Object.entries(row)
      .map(([k, v]) => `${k} ${(v.ms / 1000).toFixed(1)}s`)
      .join(', ')}`,
  );
}
// The action's own work, as near as the rig can show it: a fresh `all` on a
// rig whose pods are Ready at once. What it adds with pod delays is waiting.
await down(layout);
const instant = rigLayout({ ...process.env, MESH_RIG_POD_DELAY_MS: '0' });
await up(instant);
const noWaits = await action('all', fs.readFileSync(instant.kubeconfig, 'utf8'));
await down(instant);
await artifacts.close();

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const ms = (key: string): number[] => rows.map((r) => (r[key] as Timed).ms);
const ratio = (a: string, b: string): number[] =>
  rows.map((r) => (r[a] as Timed).ms / (r[b] as Timed).ms);
// The action's own overhead: its wall time (the process, start to exit) less the
// slowest cluster's readiness critical path, over its wall time.
const overhead = (key: string): number[] =>
  rows.map((r) => {
    const t = r[key] as Timed;
    return (t.ms - (t.readinessMs ?? 0)) / t.ms;
  });
const ratios = {
  'action all / seed all (fresh)': ratio('actionAll', 'seedAll'),
  'action no-op all / seed no-op': ratio('actionNoop', 'seedNoop'),
  'action no-op all / action fresh all': ratio('actionNoop', 'actionAll'),
  'action cleanup / action fresh all': ratio('actionCleanup', 'actionAll'),
  'action plan / action fresh all': ratio('actionPlan', 'actionAll'),
  'action own overhead / its fresh all': overhead('actionAll'),
};
const result = {
  date: new Date().toISOString(),
  machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  podDelayMs,
  pairs,
  ratios: Object.fromEntries(
    Object.entries(ratios).map(([k, v]) => [k, { median: median(v), pairs: v }]),
  ),
  seconds: Object.fromEntries(
    ['actionAll', 'actionNoop', 'actionCleanup', 'actionPlan', 'seedAll', 'seedNoop'].map((k) => [
      k,
      { median: median(ms(k)) / 1000, pairs: ms(k).map((x) => x / 1000) },
    ]),
  ),
  actionAllWithoutPodDelaySeconds: noWaits.ms / 1000,
  actionAllReadinessSeconds: {
    median: median(rows.map((r) => r.actionAll?.readinessMs ?? 0)) / 1000,
    pairs: rows.map((r) => (r.actionAll?.readinessMs ?? 0) / 1000),
  },
  noopWrites: rows.map((r) => r.actionNoop?.writes ?? 0),
  maxRssMiB: Math.max(
    ...rows.flatMap((r) =>
      ['actionAll', 'actionNoop', 'actionCleanup', 'actionPlan'].map(
        (k) => (r[k]?.maxRssKiB ?? 0) / 1024,
      ),
    ),
  ),
};

const f2 = (x: number): string => x.toFixed(2);
const markdown = [
  `Measured ${result.date} on ${result.machine}; ${pairs} pairs, pods Ready ${podDelayMs} ms after creation.`,
  '',
  '| ratio | median | per pair |',
  '| --- | --- | --- |',
  ...Object.entries(result.ratios).map(
    ([k, v]) => `| ${k} | ${f2(v.median)}× | ${v.pairs.map(f2).join(', ')} |`,
  ),
  '',
  `Own overhead: the fresh \`all\`'s wall time less the slowest cluster's readiness critical path (the time the action waited on that cluster for rollouts, webhooks, issuance and registration, overlapping waits once; ${f2(result.actionAllReadinessSeconds.median)} s median), over its wall time.`,
  '',
  `The same fresh \`all\` with pods Ready at once took ${(noWaits.ms / 1000).toFixed(1)} s, ${f2(noWaits.ms / median(ms('actionAll')))}× of the median with delays: the share of the wall time that is not pod start-ups, the action's own work and the rig's (API servers, etcd, the cert-manager controller and SPIRE servers on the same cores) together.`,
  '',
  `Writes sent by the no-op \`all\` (run lock and dry runs aside): ${result.noopWrites.join(', ')}. Peak memory of the action's process: ${Math.round(result.maxRssMiB)} MiB.`,
  '',
].join('\n');
fs.mkdirSync(values.out, { recursive: true });
fs.writeFileSync(path.join(values.out, 'bench.json'), `${JSON.stringify(result, null, 2)}\n`);
fs.writeFileSync(path.join(values.out, 'bench.md'), markdown);
fs.rmSync(work, { recursive: true, force: true });
log(`\n${markdown}\nwritten to ${values.out}/bench.{json,md}`);
