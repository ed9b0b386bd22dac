// The job summary (one section per phase, a table per concern) and the
// `result` output (every phase and check, per cluster, with status, reason and
// timing). The summary is capped well below the runner's 1 MiB per step; the
// full data stays in `result` and manifests-dir.
import * as core from '@actions/core';
import YAML from 'yaml';
import type { Config } from '../config/config.ts';
import { PROFILE_TABLE, type Pins } from '../config/profiles.ts';
import { formatDuration } from '../config/duration.ts';
import type { PhaseResult } from '../model/results.ts';
import type { OverlaySpec } from '../render/istio-overlay.ts';
import { checkStatus, type CheckStatus } from '../model/check.ts';
import { checkVerdict, markdownTable, phaseVerdict } from './markdown.ts';
import { phaseSections } from './sections.ts';
import { runTiming, type RunTiming } from '../analyze/timing.ts';

const SUMMARY_LIMIT = 900 * 1024;

/**
 * `partial`: nothing failed, but some checks were not run, so the phase proved
 * less than it could. `skipped`: not started because an earlier phase failed.
 */
export type PhaseStatus = 'pass' | 'fail' | 'partial' | 'skipped';

export interface ResultOutput {
  /** Nothing failed. Checks that were not run are listed in `notRun`, never counted as passed. */
  ok: boolean;
  /** Checks that were not run, as `<phase>/<check>`. */
  notRun: string[];
  clusters: { context: string; name: string; trustDomain: string; network: string }[];
  /** The `profile` input and what it installed, each version with the pin it overrode, if any. */
  profile: string;
  versions: Record<string, { version: string; pin: string }>;
  /** The `spec` merged into every control-plane IstioOperator (input `istio-overlay`). */
  istioOverlay?: OverlaySpec;
  /** The phases' wall time, split into the slowest cluster's readiness waits and the action's own. */
  timing?: RunTiming;
  phases: {
    phase: string;
    ok: boolean;
    status: PhaseStatus;
    durationMs: number;
    skipped?: boolean;
    notRun?: string[];
    error?: string;
    clusters: {
      cluster: string;
      ok: boolean;
      durationMs: number;
      created: number;
      changed: number;
      unchanged: number;
      deleted: number;
      /** API calls retried after a passing failure (network, 429, 5xx). */
      retries: number;
      /** Of durationMs, how long the cluster kept the phase waiting for readiness. */
      waitedMs: number;
      notes: string[];
      error?: string;
    }[];
    checks: {
      name: string;
      cluster: string;
      ok: boolean;
      status: CheckStatus;
      reason: string;
      details?: Record<string, unknown>;
      notRun?: true;
    }[];
  }[];
}

/** Checks of a phase that were not run: listed as such by the phase, or as not-run checks. */
function notRunNames(r: PhaseResult): string[] {
  const fromChecks = r.checks.filter((c) => checkStatus(c) === 'not-run').map((c) => c.name);
  return [...new Set([...fromChecks, ...(r.notRun ?? [])])];
}

function phaseStatus(r: PhaseResult): PhaseStatus {
  if (r.skipped) return 'skipped';
  if (!r.ok) return 'fail';
  return notRunNames(r).length > 0 ? 'partial' : 'pass';
}

export function buildResult(config: Config, results: PhaseResult[]): ResultOutput {
  const timing = runTiming(results);
  return {
    ok: results.every((r) => r.ok),
    notRun: results.flatMap((r) => notRunNames(r).map((name) => `${r.phase}/${name}`)),
    clusters: config.clusters.map((c) => ({
      context: c.context,
      name: c.name,
      trustDomain: c.trustDomain,
      network: c.network,
    })),
    profile: config.profile,
    versions: Object.fromEntries(
      (Object.keys(config.versions) as (keyof Pins)[])
        .filter((k) => config.versions[k] !== '')
        .map((k) => [
          k,
          { version: config.versions[k], pin: PROFILE_TABLE[config.profile].pins[k] },
        ]),
    ),
    ...(config.istioOverlay ? { istioOverlay: config.istioOverlay } : {}),
    ...(timing ? { timing } : {}),
    phases: results.map((r) => ({
      phase: r.phase,
      ok: r.ok,
      status: phaseStatus(r),
      durationMs: r.durationMs,
      ...(r.skipped ? { skipped: true } : {}),
      ...(notRunNames(r).length > 0 ? { notRun: notRunNames(r) } : {}),
      ...(r.error ? { error: r.error } : {}),
      clusters: r.clusters.map((c) => {
        const n = (a: string): number => c.records.filter((x) => x.action === a).length;
        return {
          cluster: c.cluster,
          ok: c.ok,
          durationMs: c.durationMs,
          created: n('created'),
          changed: n('changed'),
          unchanged: n('unchanged'),
          deleted: n('deleted'),
          retries: c.retries ?? 0,
          waitedMs: c.waitedMs ?? 0,
          notes: c.notes,
          ...(c.error ? { error: c.error } : {}),
        };
      }),
      checks: r.checks.map((c) => ({ ...c, status: checkStatus(c) })),
    })),
  };
}

const COMPONENT_NAMES: Record<keyof Pins, string> = {
  istio: 'Istio',
  spire: 'SPIRE',
  spireControllerManager: 'SPIRE Controller Manager',
  certManager: 'cert-manager',
  spiffeCsiDriver: 'SPIFFE CSI driver',
  nodeDriverRegistrar: 'node-driver-registrar',
};

/** What ran, and each pin a version input replaced: a run never reads as its profile's pins when it was not. */
function stackLine(config: Config, result: ResultOutput): string {
  const parts = Object.entries(result.versions).map(([key, v]) => {
    const name = COMPONENT_NAMES[key as keyof Pins];
    return v.version === v.pin
      ? `${name} ${v.version}`
      : `${name} **${v.version}** (instead of the pin ${v.pin})`;
  });
  return `Profile \`${config.profile}\` (workloads registered by the ${config.registration}): ${parts.join(' · ')}`;
}

/** Whether the clusters or the action set the pace. */
function timingLine(t: RunTiming): string {
  const share = t.phasesMs > 0 ? Math.round((100 * t.ownMs) / t.phasesMs) : 0;
  return `Time: ${formatDuration(t.phasesMs)}, of which ${formatDuration(t.readinessMs)} waiting for \`${t.slowestCluster}\` to become ready (the slowest cluster's readiness critical path) and ${formatDuration(t.ownMs)} (${share}%) the action's own work and the API servers' answers.`;
}

/** ✅ only when every check ran and passed; a run that left proofs out says which. */
function headline(result: ResultOutput): string {
  if (!result.ok) return '❌';
  if (result.notRun.length > 0)
    return `⚠️ partly proven — not run: ${result.notRun.map((n) => n.replace(/^verify\//, '')).join(', ')}`;
  return '✅';
}

export function renderSummary(config: Config, results: PhaseResult[]): string {
  const result = buildResult(config, results);
  const parts: string[] = [];
  parts.push(`## mesh-federation ${headline(result)}`);
  parts.push(stackLine(config, result));
  if (result.timing) parts.push(timingLine(result.timing));
  parts.push(
    markdownTable(
      ['cluster', 'context', 'trust domain', 'network'],
      config.clusters.map((c) => [c.name, c.context, c.trustDomain, c.network]),
    ),
  );
  if (config.istioOverlay)
    parts.push(
      '**Istio overlay** (merged into every control plane, `istio-overlay`):',
      '```yaml\n' + YAML.stringify({ spec: config.istioOverlay }, { lineWidth: 0 }) + '```',
    );
  for (const [i, phase] of result.phases.entries()) {
    const source = results[i] as PhaseResult;
    if (phase.status === 'skipped') {
      parts.push(
        `### ${phase.phase} ${phaseVerdict('skipped')}`,
        `> ${phase.error ?? 'an earlier phase failed'}`,
      );
      continue;
    }
    parts.push(
      `### ${phase.phase} ${phaseVerdict(phase.status)} · ${formatDuration(phase.durationMs)}`,
    );
    if (phase.error) parts.push(`> ${phase.error}`);
    if (phase.clusters.length > 0 && phase.phase !== 'plan')
      parts.push(
        markdownTable(
          [
            'cluster',
            'status',
            'created',
            'changed',
            'unchanged',
            ...(phase.phase === 'cleanup' ? ['deleted'] : []),
            'time',
            'notes',
          ],
          phase.clusters.map((c) => [
            c.cluster,
            c.ok ? '✅' : `❌ ${c.error ?? ''}`,
            String(c.created),
            String(c.changed),
            String(c.unchanged),
            ...(phase.phase === 'cleanup' ? [String(c.deleted)] : []),
            c.waitedMs > 0
              ? `${formatDuration(c.durationMs)} (${formatDuration(c.waitedMs)} waiting for readiness)`
              : formatDuration(c.durationMs),
            [...c.notes, ...(c.retries ? [`${c.retries} API calls retried`] : [])].join('; '),
          ]),
        ),
      );
    if (phase.checks.length > 0)
      parts.push(
        markdownTable(
          ['check', 'cluster', 'verdict', 'reason'],
          phase.checks.map((c) => [c.name, c.cluster, checkVerdict(c.status), c.reason]),
        ),
      );
    if (phase.notRun?.length)
      parts.push(
        `Not run (so not proven): ${phase.notRun.map((n) => `\`${n}\``).join(', ')}. Set \`verify-checks\` to run them.`,
      );
    for (const section of phaseSections(config, source))
      parts.push(`#### ${section.title}\n\n${section.markdown}`);
  }
  let text = parts.join('\n\n') + '\n';
  if (Buffer.byteLength(text) > SUMMARY_LIMIT)
    text =
      text.slice(0, SUMMARY_LIMIT) +
      '\n\n_(summary truncated: the full data is in the `result` output)_\n';
  return text;
}

export async function writeSummary(config: Config, results: PhaseResult[]): Promise<void> {
  const text = renderSummary(config, results);
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(text).write();
  else core.info(text);
}
