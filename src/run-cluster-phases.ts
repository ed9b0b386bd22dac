// Everything that needs the clusters: kubeconfig to clients, a reachability
// check on every cluster before the first change, then the phases in order.
import * as core from '@actions/core';
import type { Config, Phase } from './config.ts';
import type { VerifyCheck } from './inputs.ts';
import { makeRunDir, resolveKubeconfigs, writePrivateFile } from './kubeconfig.ts';
import { ClusterClient } from './cluster/client.ts';
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
import {
  skippedPhase,
  type ClusterOutcome,
  type PhaseResult,
  type RunContext,
} from './phases/types.ts';
import { checkStatus, isFailure, type Check } from './verify/check.ts';
import { once } from './once.ts';

type ClusterPhase = Exclude<Phase, 'plan'>;

interface Request {
  config: Config;
  verifyChecks: VerifyCheck[];
  contextsGiven: boolean;
  phases: ClusterPhase[];
  writeManifest: (cluster: string, phase: string, yaml: string) => string;
}

type PhaseOutput =
  | ClusterOutcome[]
  | { outcomes: ClusterOutcome[]; checks: Check[]; sections?: PhaseResult['sections'] };

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
  const { outcomes, checks, sections } = Array.isArray(out)
    ? { outcomes: out, checks: [], sections: [] }
    : { sections: [], ...out };
  const notRun = [
    ...new Set(checks.filter((c) => checkStatus(c) === 'not-run').map((c) => c.name)),
  ];
  return {
    phase,
    ok: outcomes.every((o) => o.ok) && !checks.some(isFailure),
    durationMs,
    clusters: outcomes,
    checks,
    sections,
    ...(notRun.length > 0 ? { notRun } : {}),
  };
}

export async function runClusterPhases(request: Request): Promise<PhaseResult[]> {
  const { config } = request;
  const resolved = resolveKubeconfigs(core.getInput, config.clusters, request.contextsGiven);
  for (const secret of resolved.secrets) core.setSecret(secret);

  const runDir = makeRunDir();
  rememberCreatedDir(runDir);
  try {
    const kubeconfigFile = writePrivateFile(runDir, 'kubeconfig', resolved.yaml);
    const istioctl = once(() => installIstioctl(config.versions.istio, config.istioctlBaseUrl));
    if (config.istioOverlay && request.phases.includes('istio'))
      await checkIstioOverlay(config, await istioctl(), runDir, kubeconfigFile);
    const clients = resolved.endpoints.map(
      (e) => new ClusterClient(e.cluster, e.server, resolved.yaml, config.timeoutMs),
    );
    await Promise.all(
      clients.map(async (client) =>
        core.info(
          `cluster '${client.cluster.context}': Kubernetes ${await client.checkReachable()} at ${client.server}`,
        ),
      ),
    );

    const ctx: RunContext = {
      config,
      verifyChecks: request.verifyChecks,
      clients,
      kubeconfigFile,
      runDir,
      istioctl,
      facts: {},
      mask: (secret) => core.setSecret(secret),
      writeManifest: request.writeManifest,
      setOutput: (name, value) => core.setOutput(name, value),
    };

    const results: PhaseResult[] = [];
    for (const phase of request.phases) {
      if (results.some((r) => !r.ok)) {
        results.push(skippedPhase(phase));
        continue;
      }
      const started = Date.now();
      try {
        const out = await RUNNERS[phase](ctx);
        results.push(toPhaseResult(phase, out, Date.now() - started));
      } catch (error) {
        results.push({
          phase,
          ok: false,
          durationMs: Date.now() - started,
          clusters: [],
          checks: [],
          sections: [],
          error: describeError(error),
        });
      }
    }
    return results;
  } finally {
    // The kubeconfig is needed by no later step; the post step is only the backstop.
    core.debug(`removing ${runDir}`);
    (await import('node:fs')).rmSync(runDir, { recursive: true, force: true });
  }
}
