// The only place that reads inputs, writes outputs and fails the step.
import * as core from '@actions/core';
import { parseInputs } from './config/inputs.ts';
import { UserError } from './model/user-error.ts';
import { KUBECONFIG_INPUTS, type Phase } from './config/config.ts';
import { runPlan } from './phases/plan.ts';
import type { PhaseResult } from './model/results.ts';
import { buildResult, writeSummary } from './report/summary.ts';
import { trackedDir } from './post-state.ts';
import { failureAnnotations, failureMessage } from './report/failures.ts';
import { renderDiagnostics } from './report/diagnostics.ts';

/**
 * Registered before anything else runs, so not even a parse error can echo a
 * kubeconfig; the credentials inside are masked once parseInputs decoded them.
 */
function maskRawKubeconfigs(): void {
  for (const name of KUBECONFIG_INPUTS) {
    const value = core.getInput(name);
    if (value.trim() !== '') core.setSecret(value);
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof UserError) return error.message;
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

export async function run(): Promise<void> {
  const results: PhaseResult[] = [];
  try {
    maskRawKubeconfigs();
    const config = parseInputs(core.getInput, process.env, (secret) => core.setSecret(secret));
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
      const run = await runClusterPhases({ config, phases: clusterPhases, writeManifest });
      results.push(...run.results);
      if (run.diagnostics) {
        const files = renderDiagnostics({
          clusters: run.diagnostics,
          chains: results.flatMap((r) =>
            r.evidence.flatMap((e) => (e.kind === 'chain' ? [e.report] : [])),
          ),
          failures: failureAnnotations(results),
          secrets: [...(config.credentials?.credentials ?? []), ...run.masked],
        });
        const writeDiagnostics = trackedDir(config.diagnosticsDir);
        for (const file of files) writeDiagnostics(file.path, file.content);
        core.setOutput('diagnostics-dir', config.diagnosticsDir);
        core.info(`diagnostics: ${files.length} files in ${config.diagnosticsDir}`);
      }
    }

    const result = buildResult(config, results);
    core.setOutput('result', JSON.stringify(result));
    for (const e of results.flatMap((r) => r.evidence))
      if (e.kind === 'gateway-url') core.setOutput('gateway-url', e.url);
    await writeSummary(config, results);
    for (const a of failureAnnotations(results)) core.error(a.message, { title: a.title });
    const failure = failureMessage(results);
    if (failure) core.setFailed(failure);
  } catch (error) {
    core.setFailed(errorMessage(error));
    if (!(error instanceof UserError) && error instanceof Error && error.stack)
      core.debug(error.stack);
  }
}
