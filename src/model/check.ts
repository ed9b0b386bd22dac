// The one result shape every analyzer returns, so the report can render any of
// them in the same table and the `result` output can carry them as JSON.

export interface Check {
  name: string;
  cluster: string;
  /** Proven. A check that did not run is never ok. */
  ok: boolean;
  reason: string;
  details?: Record<string, unknown>;
  /** Not run (deselected): no proof either way, so neither a pass nor a failure. */
  notRun?: true;
}

export type CheckStatus = 'pass' | 'fail' | 'not-run';

const withVerdict =
  (ok: boolean) =>
  (name: string, cluster: string, reason: string, details?: Record<string, unknown>): Check => ({
    name,
    cluster,
    ok,
    reason,
    ...(details ? { details } : {}),
  });

export const passed = withVerdict(true);
export const failed = withVerdict(false);

/** A check the run left out, e.g. one not selected in `verify-checks`. */
export const notRun = (name: string, cluster: string, reason: string): Check => ({
  name,
  cluster,
  ok: false,
  reason,
  notRun: true,
});

export const checkStatus = (check: Check): CheckStatus =>
  check.notRun ? 'not-run' : check.ok ? 'pass' : 'fail';

/** What fails a phase: a check that ran and did not pass. */
export const isFailure = (check: Check): boolean => checkStatus(check) === 'fail';

/** An empty list proves nothing, so it is not a pass. */
export const allPassed = (checks: readonly Check[]): boolean =>
  checks.length > 0 && checks.every((c) => c.ok);

/** Cuts long upstream messages (events, curl errors) so the summary stays compact. */
export const truncate = (text: string, max = 200): string =>
  text.length <= max ? text : `${text.slice(0, max - 1)}…`;
