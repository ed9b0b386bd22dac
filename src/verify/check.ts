// The one result shape every analyzer returns, so the report can render any of
// them in the same table and the `result` output can carry them as JSON.

export interface Check {
  name: string;
  cluster: string;
  ok: boolean;
  reason: string;
  details?: Record<string, unknown>;
}

export const passed = (
  name: string,
  cluster: string,
  reason: string,
  details?: Record<string, unknown>,
): Check => ({ name, cluster, ok: true, reason, ...(details ? { details } : {}) });

export const failed = (
  name: string,
  cluster: string,
  reason: string,
  details?: Record<string, unknown>,
): Check => ({ name, cluster, ok: false, reason, ...(details ? { details } : {}) });

/** An empty list proves nothing, so it is not a pass. */
export const allPassed = (checks: readonly Check[]): boolean =>
  checks.length > 0 && checks.every((c) => c.ok);

/** Cuts long upstream messages (events, curl errors) so the summary stays compact. */
export const truncate = (text: string, max = 200): string =>
  text.length <= max ? text : `${text.slice(0, max - 1)}…`;
