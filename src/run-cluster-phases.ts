// Everything that needs the clusters: kubeconfig to clients, a reachability
// check on every cluster before the first change, then the phases in order.
import * as core from '@actions/core';
import type { Config, Phase } from './config/config.ts';
import { makeRunDir, writePrivateFile } from './config/kubeconfig.ts';
import { InputError } from './config/input-error.ts';
import { ClusterClient } from './cluster/client.ts';
import { Istioctl } from './cluster/istioctl.ts';
import { describeError } from './cluster/errors.ts';
import { installIstioctl } from './tools/istioctl.ts';
import { rememberCreatedDir } from './post-state.ts';
import { runCertManager } from './phases/cert-manager.ts';
import { runSpire } from './phases/spire.ts';
import { checkIstioOverlay, runIstio } from './phases/istio.ts';
import { runExamples } from './phases/examples.ts';
import { runVerify } from './phases/verify.ts';
import { runRotate } from './phases/rotate.ts';
import { runCleanup } from './phases/cleanup.ts';
import { gatherDiagnostics } from './phases/diagnose.ts';
import { acquireRunLock, type HeldLock } from './cluster/run-lock.ts';
import type { ClusterDiagnostics } from './model/diagnostics.ts';
import type { RunContext } from './phases/types.ts';
import { skippedPhase, type PhaseOutput, type PhaseResult } from './model/results.ts';
import { checkStatus, isFailure } from './model/check.ts';
import { once } from './once.ts';

export type ClusterPhase = Exclude<Phase, 'plan'>;

interface Request {
  config: Config;
  phases: ClusterPhase[];
  writeManifest: (cluster: string, phase: string, yaml: string) => string;
}

type PhaseRunner = (ctx: RunContext) => Promise<PhaseOutput>;

const RUNNERS: Record<ClusterPhase, PhaseRunner> = {
  'cert-manager': runCertManager,
  spire: runSpire,
  istio: runIstio,
  examples: runExamples,
  verify: runVerify,
  rotate: runRotate,
  cleanup: runCleanup,
};

/**
 * A phase fails only on what ran and failed: checks it did not run (left out
 * of `verify-checks`) are listed as not run, never counted as passed or failed.
 */
export function toPhaseResult(
  phase: ClusterPhase,
  out: PhaseOutput,
  durationMs: number,
): PhaseResult {
  const { outcomes, checks, evidence } = Array.isArray(out)
    ? { outcomes: out, checks: [], evidence: [] }
    : { evidence: [], ...out };
  const notRun = [
    ...new Set(checks.filter((c) => checkStatus(c) === 'not-run').map((c) => c.name)),
  ];
  return {
    phase,
    ok: outcomes.every((o) => o.ok) && !checks.some(isFailure),
    durationMs,
    clusters: outcomes,
    checks,
    evidence,
    ...(notRun.length > 0 ? { notRun } : {}),
  };
}

/**
 * The phases in order on clients already connected: a phase that throws is a
 * failed phase, and every phase after a failed one is skipped, not run.
 */
export async function runPhases(ctx: RunContext, phases: ClusterPhase[]): Promise<PhaseResult[]> {
  const results: PhaseResult[] = [];
  for (const phase of phases) {
    if (results.some((r) => !r.ok)) {
      results.push(skippedPhase(phase));
      continue;
    }
    core.info(`phase ${phase}: starting on ${ctx.clients.length} clusters`);
    const started = Date.now();
    const retriesBefore = ctx.clients.map((c) => c.retries());
    const waitedBefore = ctx.clients.map((c) => c.waitedMs());
    try {
      const out = await RUNNERS[phase](ctx);
      const result = toPhaseResult(phase, out, Date.now() - started);
      for (const [i, client] of ctx.clients.entries()) {
        const retries = client.retries() - (retriesBefore[i] ?? 0);
        const outcome = result.clusters.find((o) => o.cluster === client.cluster.context);
        if (!outcome) continue;
        if (retries > 0) outcome.retries = retries;
        outcome.waitedMs = client.waitedMs() - (waitedBefore[i] ?? 0);
      }
      results.push(result);
    } catch (error) {
      results.push({
        phase,
        ok: false,
        durationMs: Date.now() - started,
        clusters: [],
        checks: [],
        evidence: [],
        error: describeError(error),
      });
    }
  }
  return results;
}

export interface ClusterRun {
  results: PhaseResult[];
  /** Gathered after a failure (or always, as `diagnostics` says); null when not. */
  diagnostics: ClusterDiagnostics[] | null;
  /** Strings masked during the run (remote-secret tokens), for redacting what is written. */
  masked: string[];
}

const wantsDiagnostics = (config: Config, results: PhaseResult[]): boolean =>
  config.diagnostics === 'always' ||
  (config.diagnostics === 'on-failure' && results.some((r) => !r.ok));

export async function runClusterPhases(request: Request): Promise<ClusterRun> {
  const { config } = request;
  const credentials = config.credentials;
  if (!credentials) throw new InputError('kubeconfig', 'is required for every phase but plan.');

  const runDir = makeRunDir();
  rememberCreatedDir(runDir);
  try {
    const kubeconfigFile = writePrivateFile(runDir, 'kubeconfig', credentials.yaml);
    const istioctl = new Istioctl(
      once(() => installIstioctl(config.versions.istio, config.istioctlBaseUrl)),
      kubeconfigFile,
      runDir,
    );
    if (config.istioOverlay && request.phases.includes('istio'))
      await checkIstioOverlay(config, istioctl);
    const clients = config.clusters.map(
      (cluster, i) =>
        new ClusterClient(
          cluster,
          credentials.servers[i] as string,
          credentials.yaml,
          config.timeoutMs,
          istioctl,
        ),
    );
    await Promise.all(
      clients.map(async (client) =>
        core.info(
          `cluster '${client.cluster.context}': Kubernetes ${await client.checkReachable()} at ${client.server}`,
        ),
      ),
    );
    const masked: string[] = [];
    const ctx: RunContext = {
      config,
      clients,
      istioctl,
      mask: (secret) => {
        masked.push(secret);
        core.setSecret(secret);
      },
      writeManifest: request.writeManifest,
    };
    // One cluster after another, always in the same order, so two runs never
    // hold one lock each while waiting for the other's.
    const locks: HeldLock[] = [];
    try {
      for (const client of clients)
        locks.push(
          await acquireRunLock(client, config.run, (line) =>
            core.info(`cluster '${client.cluster.context}': ${line}`),
          ),
        );
      const results = await runPhases(ctx, request.phases);
      const diagnostics = wantsDiagnostics(config, results) ? await gatherDiagnostics(ctx) : null;
      return { results, diagnostics, masked };
    } finally {
      for (const [i, lock] of [...locks.entries()].reverse()) {
        const problem = await lock.release().catch((error: unknown) => describeError(error));
        if (problem) core.warning(`cluster '${config.clusters[i]?.context}': ${problem}`);
      }
    }
  } finally {
    // The kubeconfig is needed by no later step; the post step is only the backstop.
    core.debug(`removing ${runDir}`);
    (await import('node:fs')).rmSync(runDir, { recursive: true, force: true });
  }
}
