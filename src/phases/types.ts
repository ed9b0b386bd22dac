// What phases share: the clusters to work on, lazy tools, and the evidence
// they hand back to the report.
import type { Config, Phase } from '../config.ts';
import type { VerifyCheck } from '../inputs.ts';
import type { ClusterClient, ApplyRecord } from '../cluster/client.ts';
import type { RenderFacts } from '../render/index.ts';
import type { Check } from '../verify/check.ts';

export interface ClusterOutcome {
  cluster: string;
  ok: boolean;
  durationMs: number;
  records: ApplyRecord[];
  /** Short facts worth a line in the summary (addresses found, bundles exchanged). */
  notes: string[];
  error?: string;
}

export interface PhaseResult {
  phase: Phase;
  ok: boolean;
  durationMs: number;
  clusters: ClusterOutcome[];
  checks: Check[];
  /** Extra summary sections (markdown) this phase wants shown, e.g. certificate chains. */
  sections: { title: string; markdown: string }[];
  /** Checks of this phase that were not run (deselected): never a pass, never a failure. */
  notRun?: string[];
  /** Not started because an earlier phase failed. */
  skipped?: boolean;
  error?: string;
}

/** A phase not started because an earlier one failed. */
export function skippedPhase(phase: Phase): PhaseResult {
  return {
    phase,
    ok: false,
    durationMs: 0,
    clusters: [],
    checks: [],
    sections: [],
    skipped: true,
    error: 'skipped: an earlier phase failed',
  };
}

export interface RunContext {
  config: Config;
  verifyChecks: VerifyCheck[];
  clients: ClusterClient[];
  /** Path of the kubeconfig file (0600) for istioctl. */
  kubeconfigFile: string;
  /** Private directory of this run (0700), removed by the post step. */
  runDir: string;
  /** Resolves istioctl once per run (download + checksum + cache). */
  istioctl: () => Promise<string>;
  /** Bundle endpoints discovered so far, shared between phases of one run. */
  facts: RenderFacts;
  /** Registers strings that must never be printed. */
  mask: (secret: string) => void;
  /** Writes a rendered file into manifests-dir, returns its path. */
  writeManifest: (cluster: string, phase: string, yaml: string) => string;
  /** Sets an action output. */
  setOutput: (name: string, value: string) => void;
}

export type ClusterLog = (line: string) => void;
