// The diagnostics folder as files, from what was gathered: per cluster the
// failing objects, not-ready pods described, events, the last logs, SPIRE's
// entries and bundles, and each proxy's certificate chain. Nothing secret may
// reach a file: Secret data is dropped, private keys and tokens are cut out,
// and every string the run masks is replaced.
import YAML from 'yaml';
import { conditionsOf } from '../model/conditions.ts';
import type { ClusterDiagnostics } from '../model/diagnostics.ts';
import type { ChainReport } from '../model/evidence.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import type { Annotation } from './failures.ts';

export interface DiagnosticsFile {
  /** Relative to the diagnostics folder. */
  path: string;
  content: string;
}

const PRIVATE_KEY = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;
const JWT = /\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/g;
const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every masked string, private key and bearer token in `text`, cut out. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text.replace(PRIVATE_KEY, '[private key redacted]').replace(JWT, '[token redacted]');
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length))
    if (secret.length >= 6) out = out.replaceAll(secret, '***');
  return out;
}

/** An object as YAML, without what only the server needs and never a Secret's data. */
function objectYaml(o: K8sObject): string {
  const { managedFields: _managed, ...metadata } = o.metadata as K8sObject['metadata'] & {
    managedFields?: unknown;
  };
  const copy: Record<string, unknown> = { ...o, metadata };
  if (o.kind === 'Secret') {
    delete copy.data;
    delete copy.stringData;
  }
  return YAML.stringify(copy, { lineWidth: 0 });
}

interface EventLike {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  metadata?: { creationTimestamp?: string };
  involvedObject?: { kind?: string; namespace?: string; name?: string };
}

const eventTime = (e: EventLike): string =>
  e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? '';

function eventLine(e: EventLike): string {
  const o = e.involvedObject ?? {};
  const count = (e.count ?? 1) > 1 ? ` (×${e.count})` : '';
  return `${eventTime(e)} ${e.type ?? '?'} ${e.reason ?? ''} ${o.kind ?? ''}/${o.namespace ? `${o.namespace}/` : ''}${o.name ?? ''}: ${e.message ?? ''}${count}`;
}

interface PodShape {
  spec?: { nodeName?: string; containers?: { name: string; image?: string }[] };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}
interface ContainerStatus {
  name: string;
  image?: string;
  ready?: boolean;
  restartCount?: number;
  state?: Record<string, { reason?: string; message?: string; exitCode?: number }>;
  lastState?: Record<string, { reason?: string; message?: string; exitCode?: number }>;
}

function stateText(state: ContainerStatus['state']): string {
  const [name, detail] = Object.entries(state ?? {})[0] ?? ['unknown', {}];
  const parts = [
    detail?.reason,
    detail?.exitCode !== undefined ? `exit ${detail.exitCode}` : '',
    detail?.message,
  ];
  return [name, ...parts.filter(Boolean)].join(' ');
}

/** What `kubectl describe pod` says first: where it runs, why it is not ready, its events. */
function describePod(pod: K8sObject, events: EventLike[]): string {
  const { spec, status } = pod as PodShape;
  const lines = [
    `Pod ${pod.metadata.namespace}/${pod.metadata.name}`,
    `  node: ${spec?.nodeName ?? '(not scheduled)'}   phase: ${status?.phase ?? '?'}${status?.reason ? `   reason: ${status.reason}` : ''}`,
    ...(status?.message ? [`  message: ${status.message}`] : []),
    `  conditions: ${
      conditionsOf(pod)
        .map((c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}`)
        .join(', ') || 'none'
    }`,
  ];
  for (const c of [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])])
    lines.push(
      `  container ${c.name}: ${c.ready ? 'ready' : 'not ready'}, ${stateText(c.state)}, restarts ${c.restartCount ?? 0}${c.lastState && Object.keys(c.lastState).length > 0 ? `, last ${stateText(c.lastState)}` : ''}, image ${c.image ?? '?'}`,
    );
  const own = events.filter(
    (e) =>
      e.involvedObject?.kind === 'Pod' &&
      e.involvedObject.name === pod.metadata.name &&
      e.involvedObject.namespace === pod.metadata.namespace,
  );
  lines.push(
    `  events:${own.length === 0 ? ' none' : ''}`,
    ...own.map((e) => `    ${eventLine(e)}`),
  );
  return lines.join('\n');
}

const fileName = (...parts: string[]): string => parts.join('.').replace(/[^A-Za-z0-9._-]/g, '_');

export function renderDiagnostics(input: {
  clusters: ClusterDiagnostics[];
  chains: ChainReport[];
  failures: Annotation[];
  secrets: readonly string[];
}): DiagnosticsFile[] {
  const files: DiagnosticsFile[] = [];
  const add = (path: string, content: string): void => {
    files.push({ path, content: redact(content, input.secrets) });
  };
  for (const c of input.clusters) {
    const events = (c.events as EventLike[]).sort((a, b) =>
      eventTime(a).localeCompare(eventTime(b)),
    );
    if (c.failing.length > 0)
      add(`${c.cluster}/failing-objects.yaml`, c.failing.map(objectYaml).join('---\n'));
    if (c.pods.length > 0)
      add(
        `${c.cluster}/pods-not-ready.txt`,
        c.pods.map((p) => describePod(p, events)).join('\n\n') + '\n',
      );
    add(`${c.cluster}/events.txt`, events.map(eventLine).join('\n') + '\n');
    for (const log of c.logs)
      add(`${c.cluster}/logs/${fileName(log.namespace, log.pod, log.container, 'log')}`, log.text);
    if (c.spireEntries !== undefined) add(`${c.cluster}/spire-entries.txt`, c.spireEntries);
    if (c.spireBundles !== undefined) add(`${c.cluster}/spire-bundles.txt`, c.spireBundles);
    for (const chain of input.chains.filter((r) => r.cluster === c.cluster && r.chainPem)) {
      // Certificates only: whatever else the proxy's dump held stays out.
      const pem = (chain.chainPem?.match(CERTIFICATE) ?? []).join('\n');
      add(`${c.cluster}/chains/${fileName(chain.workload.replace('/', '.'), 'pem')}`, `${pem}\n`);
    }
  }
  const index = [
    '# mesh-federation diagnostics',
    '',
    input.failures.length > 0 ? '## What failed' : '## Nothing failed (diagnostics: always)',
    '',
    ...input.failures.map((f) => `- ${f.title}: ${f.message}`),
    '',
    '## Per cluster',
    '',
    ...input.clusters.flatMap((c) => [
      `### ${c.cluster}`,
      '',
      `- ${c.failing.length} failing objects (failing-objects.yaml), ${c.pods.length} pods not ready (pods-not-ready.txt), ${c.events.length} events (events.txt)`,
      `- logs: ${c.logs.map((l) => `${l.namespace}/${l.pod} (${l.container})`).join(', ') || 'none read'}`,
      `- SPIRE: ${c.spireEntries !== undefined ? 'entries and bundles read' : 'not read'}`,
      ...c.errors.map((e) => `- not read: ${e}`),
      '',
    ]),
    'No Secret data, private key or token is in this folder; strings the run masks read ***.',
    '',
  ].join('\n');
  add('README.md', index);
  return files;
}
