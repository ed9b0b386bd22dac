// The traffic tables of the summary: answers per version and cluster, their
// share, failures and latency, from a traffic check's details.
import type { TrafficSummary } from '../model/evidence.ts';
import type { Check } from '../model/check.ts';
import { markdownTable, verdict } from './markdown.ts';

export function trafficSection(check: Check): { title: string; markdown: string } | undefined {
  const summary = check.details as TrafficSummary | undefined;
  if (!summary || typeof summary.total !== 'number') return undefined;
  const rows = Object.entries(summary.versions).map(([version, stats]) => [
    version,
    stats.cluster ?? '?',
    String(stats.count),
    `${Math.round(stats.share * 100)}%`,
  ]);
  if (summary.failed > 0)
    rows.push([
      'failed',
      '',
      String(summary.failed),
      `${Math.round((summary.failed / Math.max(1, summary.total)) * 100)}%`,
    ]);
  const latency = summary.latencyMs
    ? `latency p50 ${summary.latencyMs.p50} ms · p95 ${summary.latencyMs.p95} ms · max ${summary.latencyMs.max} ms`
    : 'no latency: no request answered';
  return {
    title: `${check.name} from ${check.cluster} ${verdict(check.ok)}`,
    markdown: `${markdownTable(['answer', 'cluster', 'requests', 'share'], rows)}\n\n${summary.total} requests · ${latency}`,
  };
}
