// The only place that reads inputs, writes outputs and fails the step.
import * as core from '@actions/core';
import { parseInputs } from './inputs.ts';
import { decodeKubeconfig } from './kubeconfig.ts';
import { InputError } from './input-error.ts';
import { ClusterError } from './cluster/errors.ts';
import type { Phase } from './config.ts';
import { runPlan } from './phases/plan.ts';
import type { PhaseResult } from './phases/types.ts';
import { buildResult, writeSummary } from './report/summary.ts';
import { trackedDir } from './post-state.ts';
import { isFailure } from './verify/check.ts';

const KUBECONFIG_INPUTS = [
  'kubeconfig',
  'kubeconfig-1',
  'kubeconfig-2',
  'kubeconfig-3',
  'kubeconfig-4',
];

/**
 * Registered before anything else runs, so not even a parse error can echo a
 * kubeconfig or a credential inside it.
 */
function maskRawSecrets(): void {
  for (const name of KUBECONFIG_INPUTS) {
    const value = core.getInput(name);
    if (value.trim() === '') continue;
    core.setSecret(value);
    try {
      for (const secret of decodeKubeconfig(name, value).secrets) core.setSecret(secret);
    } catch {
      // Not a kubeconfig: reported, naming the input, once the inputs are validated.
    }
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof InputError || error instanceof ClusterError) return error.message;
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

/**
 * What failed, for the step's error: checks that ran and failed, else the
 * phase's error. Checks left out and phases skipped after a failure are no
 * failures of their own, so they are not named.
 */
export function failureMessage(results: PhaseResult[]): string | undefined {
  const names = results
    .filter((r) => !r.ok && !r.skipped)
    .flatMap((r) => {
      const failedChecks = r.checks.filter(isFailure);
      if (failedChecks.length > 0)
        return failedChecks.map((c) => `${r.phase}/${c.name}@${c.cluster}: ${c.reason}`);
      const clusters = r.clusters
        .filter((c) => !c.ok)
        .map((c) => `${c.cluster}: ${c.error}`)
        .join('; ');
      return [`${r.phase}: ${r.error ?? clusters}`];
    });
  if (names.length === 0) return undefined;
  const more = names.length > 5 ? ` (+${names.length - 5} more)` : '';
  return `mesh-federation failed: ${names.slice(0, 5).join(' | ')}${more}`;
}

export async function run(): Promise<void> {
  const results: PhaseResult[] = [];
  try {
    maskRawSecrets();
    const { config, verifyChecks, contextsGiven } = parseInputs(core.getInput);
    // The post step removes only what this run created (see trackedDir), so
    // `manifests-dir: .` never costs the workspace.
    const writeInManifestsDir = trackedDir(config.manifestsDir);
    core.setOutput('manifests-dir', config.manifestsDir);
    const writeManifest = (cluster: string, phase: string, yaml: string): string =>
      writeInManifestsDir(`${cluster}-${phase}.yaml`, yaml);

    if (config.phases.includes('plan')) results.push(runPlan(config, writeManifest));
    const clusterPhases = config.phases.filter((p): p is Exclude<Phase, 'plan'> => p !== 'plan');
    if (clusterPhases.length > 0) {
      // Loaded only here: the Kubernetes client costs a noticeable start-up that `plan` never pays.
      const { runClusterPhases } = await import('./run-cluster-phases.ts');
      results.push(
        ...(await runClusterPhases({
          config,
          verifyChecks,
          contextsGiven,
          phases: clusterPhases,
          writeManifest,
        })),
      );
    }

    const result = buildResult(config, results);
    core.setOutput('result', JSON.stringify(result));
    await writeSummary(config, results);
    const failure = failureMessage(results);
    if (failure) core.setFailed(failure);
  } catch (error) {
    core.setFailed(errorMessage(error));
    if (
      !(error instanceof InputError) &&
      !(error instanceof ClusterError) &&
      error instanceof Error &&
      error.stack
    )
      core.debug(error.stack);
  }
}
