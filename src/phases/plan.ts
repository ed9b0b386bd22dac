// `plan`: render every object for every cluster and phase, write them, and say
// what they are. Touches no cluster and needs no kubeconfig.
import type { Config } from '../config.ts';
import { renderPlan, toYaml, type RenderedPhase } from '../render/index.ts';
import { markdownTable } from '../report/markdown.ts';
import type { PhaseResult } from './types.ts';

export function kindCounts(rendered: RenderedPhase): string {
  const counts = new Map<string, number>();
  for (const o of [...rendered.objects, ...rendered.istioOperators])
    counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
  return [...counts.entries()].map(([kind, n]) => `${kind} ×${n}`).join(', ');
}

export function runPlan(
  config: Config,
  writeManifest: (cluster: string, phase: string, yaml: string) => string,
): PhaseResult {
  const started = Date.now();
  const plan = renderPlan(config, {});
  const rows = plan.map((r) => {
    const file = writeManifest(
      r.cluster.context,
      r.phase,
      toYaml([...r.istioOperators, ...r.objects]),
    );
    const partners = config.clusters
      .filter((c) => c.index !== r.cluster.index)
      .map((c) => c.trustDomain);
    return [
      r.cluster.context,
      r.phase,
      String(r.objects.length + r.istioOperators.length),
      kindCounts(r),
      r.cluster.trustDomain,
      partners.join(', '),
      file.split('/').pop() ?? file,
    ];
  });
  const versions = `Istio ${config.versions.istio} · SPIRE ${config.versions.spire} · cert-manager ${config.versions.certManager} · service type ${config.serviceType} · mesh ${config.meshId}`;
  const notes = [
    '`cert-manager` also applies the cert-manager release manifest, downloaded at run time; `istio` applies what `istioctl manifest generate` makes of the IstioOperators shown.',
    'Bundle endpoint addresses are discovered from the clusters at run time; the plan shows placeholders.',
  ];
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
    sections: [
      {
        title: 'Plan',
        markdown: `${versions}\n\n${markdownTable(['cluster', 'phase', 'objects', 'kinds', 'trust domain', 'federates with', 'file'], rows)}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`,
      },
    ],
  };
}
