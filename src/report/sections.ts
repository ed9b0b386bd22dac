// The summary's sections beyond the phase tables, from a phase's evidence and
// checks: the plan, each certificate chain, each traffic check's answers.
import type { Config } from '../config/config.ts';
import type { Check } from '../model/check.ts';
import type { ChainReport, FederationCell, FederationMatrix } from '../model/evidence.ts';
import type { PhaseResult, PlanRow } from '../model/results.ts';
import { markdownTable, verdict } from './markdown.ts';
import { trafficSection } from './traffic-section.ts';

export interface Section {
  title: string;
  markdown: string;
}

function planSection(config: Config, rows: PlanRow[]): Section {
  const versions = `Istio ${config.versions.istio} · SPIRE ${config.versions.spire} · cert-manager ${config.versions.certManager} · service type ${config.serviceType} · mesh ${config.meshId}`;
  const notes = [
    '`cert-manager` also applies the cert-manager release manifest, downloaded at run time; `istio` applies what `istioctl manifest generate` makes of the IstioOperators shown.',
    'Bundle endpoint addresses are discovered from the clusters at run time; the plan shows placeholders.',
    ...(config.registration === 'spire-controller-manager'
      ? [
          "`spire` also applies the SPIRE Controller Manager CRDs of its version, downloaded at run time; each ClusterFederatedTrustDomain starts from the bundle its peer's server shows then.",
        ]
      : []),
  ];
  const table = markdownTable(
    ['cluster', 'phase', 'objects', 'kinds', 'trust domain', 'federates with', 'file'],
    rows.map((r) => [
      r.cluster,
      r.phase,
      String(r.objects),
      r.kinds.map(([kind, n]) => `${kind} ×${n}`).join(', '),
      r.trustDomain,
      r.federatesWith.join(', '),
      r.file,
    ]),
  );
  return {
    title: 'Plan',
    markdown: `${versions}\n\n${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`,
  };
}

function chainSection(report: ChainReport): Section {
  const rows = report.rows.map((r) => [
    r.role,
    r.trustDomain,
    r.subject,
    r.issuer,
    r.spiffeId ?? '',
    r.notAfter,
    r.keyType,
    r.sha256,
  ]);
  return {
    title: `Certificate chain of ${report.workload} (${report.cluster}) ${verdict(report.ok)}`,
    markdown: markdownTable(
      ['role', 'trust domain', 'subject', 'issuer', 'SPIFFE ID', 'not after', 'key', 'SHA-256'],
      rows,
    ),
  };
}

const CELLS: Record<FederationCell, string> = {
  own: '— own',
  same: '✅ same roots',
  missing: '❌ missing',
  stale: '❌ stale',
  different: '❌ other roots',
  empty: '❌ no root',
  unreadable: '❌ unreadable',
};

function federationSection(matrix: FederationMatrix): Section {
  return {
    title: `Federation: which server holds whose bundle ${verdict(matrix.ok)}`,
    markdown: markdownTable(
      ['server ↓ holds bundle of →', ...matrix.trustDomains],
      matrix.trustDomains.map((td, i) => [td, ...(matrix.cells[i] ?? []).map((c) => CELLS[c])]),
    ),
  };
}

export function phaseSections(config: Config, result: PhaseResult): Section[] {
  const sections: Section[] = [];
  for (const e of result.evidence) {
    if (e.kind === 'plan') sections.push(planSection(config, e.rows));
    if (e.kind === 'chain') sections.push(chainSection(e.report));
    if (e.kind === 'federation') sections.push(federationSection(e.matrix));
  }
  sections.push(
    ...result.checks.map((c: Check) => trafficSection(c)).filter((s): s is Section => !!s),
  );
  return sections;
}
