// Markdown pieces for the job summary. Cells are escaped so a value can never
// break a table (or inject markup).
import type { CheckStatus } from '../model/check.ts';
import type { PhaseStatus } from './summary.ts';

export function escapeCell(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/</g, '&lt;')
    .replace(/\r?\n/g, '<br>');
}

export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [line(header), `|${header.map(() => ' --- ').join('|')}|`, ...rows.map(line)].join('\n');
}

export const verdict = (ok: boolean): string => (ok ? '✅ pass' : '❌ fail');

const CHECK_VERDICTS: Record<CheckStatus, string> = {
  pass: verdict(true),
  fail: verdict(false),
  // Never a pass and never a failure: the proof was simply not made.
  'not-run': '⏭️ not run',
};

const PHASE_VERDICTS: Record<PhaseStatus, string> = {
  pass: verdict(true),
  fail: verdict(false),
  partial: '⚠️ partly proven',
  skipped: '⏭️ skipped',
};

export const checkVerdict = (status: CheckStatus): string => CHECK_VERDICTS[status];
export const phaseVerdict = (status: PhaseStatus): string => PHASE_VERDICTS[status];
