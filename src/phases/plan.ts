// `plan`: render every object for every cluster and phase and write them.
// Touches no cluster and needs no kubeconfig.
import type { Config } from '../config/config.ts';
import { renderPlan, toYaml, type RenderedPhase } from '../render/index.ts';
import type { PhaseResult, PlanRow } from '../model/results.ts';

function kindCounts(rendered: RenderedPhase): [string, number][] {
  const counts = new Map<string, number>();
  for (const o of [...rendered.objects, ...rendered.istioOperators])
    counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
  return [...counts.entries()];
}

export function runPlan(
  config: Config,
  writeManifest: (cluster: string, phase: string, yaml: string) => string,
): PhaseResult {
  const started = Date.now();
  const rows: PlanRow[] = renderPlan(config, {}).map((r) => {
    const file = writeManifest(
      r.cluster.context,
      r.phase,
      toYaml([...r.istioOperators, ...r.objects]),
    );
    return {
      cluster: r.cluster.context,
      phase: r.phase,
      objects: r.objects.length + r.istioOperators.length,
      kinds: kindCounts(r),
      trustDomain: r.cluster.trustDomain,
      federatesWith: config.clusters
        .filter((c) => c.index !== r.cluster.index)
        .map((c) => c.trustDomain),
      file: file.split('/').pop() ?? file,
    };
  });
  return {
    phase: 'plan',
    ok: true,
    durationMs: Date.now() - started,
    clusters: config.clusters.map((c) => ({
      cluster: c.context,
      ok: true,
      durationMs: 0,
      records: [],
      notes: [],
    })),
    checks: [],
    evidence: [{ kind: 'plan', rows }],
  };
}
