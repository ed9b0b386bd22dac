// What a run produces, in neutral terms that phases return and the report
// reads: what was done to each object on each cluster, the checks, and the
// evidence worth showing. No markdown and no action outputs here.
import type { Phase } from '../config/config.ts';
import type { Check } from './check.ts';
import type { ChainReport, FederationMatrix } from './evidence.ts';

export type ApplyAction = 'created' | 'changed' | 'unchanged' | 'deleted';
export interface ApplyRecord {
  ref: string;
  action: ApplyAction;
  /** The object existed without our label: shared, never taken over or deleted. */
  foreign?: boolean;
}

export interface ClusterOutcome {
  cluster: string;
  ok: boolean;
  durationMs: number;
  records: ApplyRecord[];
  /** Short facts worth a line in the summary (addresses found, bundles exchanged). */
  notes: string[];
  /** API calls that failed for a passing reason and were tried again during this phase. */
  retries?: number;
  /** How long this cluster kept the phase waiting for readiness (rollouts, webhooks, issuance). */
  waitedMs?: number;
  error?: string;
}

/** One rendered file of `plan`: a cluster's phase. */
export interface PlanRow {
  cluster: string;
  phase: string;
  objects: number;
  /** Kind → count, in the order first rendered. */
  kinds: [string, number][];
  trustDomain: string;
  federatesWith: string[];
  file: string;
}

export type Evidence =
  | { kind: 'plan'; rows: PlanRow[] }
  | { kind: 'chain'; report: ChainReport }
  | { kind: 'federation'; matrix: FederationMatrix }
  /** The north-south entry found on the ingress cluster (action output `gateway-url`). */
  | { kind: 'gateway-url'; url: string };

export interface PhaseResult {
  phase: Phase;
  ok: boolean;
  durationMs: number;
  clusters: ClusterOutcome[];
  checks: Check[];
  evidence: Evidence[];
  /** Checks of this phase that were not run (deselected): never a pass, never a failure. */
  notRun?: string[];
  /** Not started because an earlier phase failed. */
  skipped?: boolean;
  error?: string;
}

/** What a phase hands back: outcomes per cluster, and checks and evidence where it gathers them. */
export type PhaseOutput =
  ClusterOutcome[] | { outcomes: ClusterOutcome[]; checks: Check[]; evidence?: Evidence[] };

/** A phase not started because an earlier one failed. */
export function skippedPhase(phase: Phase): PhaseResult {
  return {
    phase,
    ok: false,
    durationMs: 0,
    clusters: [],
    checks: [],
    evidence: [],
    skipped: true,
    error: 'skipped: an earlier phase failed',
  };
}
