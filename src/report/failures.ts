// What failed, said twice: one annotation per failed check (or failed
// cluster, or failed phase), titled so it shows on the run's page, and one
// line for the step's error. Checks not run and phases skipped after a
// failure are no failures of their own, so neither names them.
import { isFailure } from '../model/check.ts';
import type { PhaseResult } from '../model/results.ts';

export interface Annotation {
  /** `phase · check · cluster` (or `phase · cluster`, or `phase`). */
  title: string;
  message: string;
  /** The same failure in the step's error line. */
  short: string;
}

export function failureAnnotations(results: PhaseResult[]): Annotation[] {
  return results
    .filter((r) => !r.ok && !r.skipped)
    .flatMap((r) => {
      const checks = r.checks.filter(isFailure);
      if (checks.length > 0)
        return checks.map((c) => ({
          title: `${r.phase} · ${c.name} · ${c.cluster}`,
          message: c.reason,
          short: `${r.phase}/${c.name}@${c.cluster}: ${c.reason}`,
        }));
      const clusters = r.clusters.filter((c) => !c.ok);
      if (clusters.length > 0 && !r.error)
        return clusters.map((c) => ({
          title: `${r.phase} · ${c.cluster}`,
          message: c.error ?? 'failed',
          short: `${r.phase}: ${c.cluster}: ${c.error ?? 'failed'}`,
        }));
      const error = r.error ?? 'failed';
      return [{ title: r.phase, message: error, short: `${r.phase}: ${error}` }];
    });
}

export function failureMessage(results: PhaseResult[]): string | undefined {
  const names = failureAnnotations(results).map((a) => a.short);
  if (names.length === 0) return undefined;
  const more = names.length > 5 ? ` (+${names.length - 5} more)` : '';
  return `mesh-federation failed: ${names.slice(0, 5).join(' | ')}${more}`;
}
