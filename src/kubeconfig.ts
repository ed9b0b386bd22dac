// Kubeconfig inputs: plain YAML or base64, one merged file or one per cluster.
// Everything secret inside is collected for masking before anything is logged,
// and the one file we write (for istioctl and the client) is 0600 in a 0700
// directory under the runner's temp dir, removed by the post step.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { InputError } from './input-error.ts';
import type { ClusterConfig } from './config.ts';

interface NamedEntry<T> {
  name: string;
  [key: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}
interface KubeconfigDoc {
  clusters?: NamedEntry<Record<string, unknown>>[];
  users?: NamedEntry<Record<string, unknown>>[];
  contexts?: NamedEntry<{ cluster?: string; user?: string; namespace?: string }>[];
  'current-context'?: string;
  [key: string]: unknown;
}

export interface DecodedKubeconfig {
  doc: KubeconfigDoc;
  /** Every string that must never be printed: the input, its decoded text, credentials. */
  secrets: string[];
}

export interface ClusterEndpoint {
  cluster: ClusterConfig;
  /** API server URL from the kubeconfig. */
  server: string;
}

export interface ResolvedKubeconfig {
  /** One kubeconfig holding exactly one context per cluster, named after ClusterConfig.context. */
  yaml: string;
  endpoints: ClusterEndpoint[];
  secrets: string[];
}

const BASE64 = /^[A-Za-z0-9+/=_-]+$/;
const USER_SECRET_FIELDS = ['token', 'password', 'client-key-data', 'client-certificate-data'];

function asKubeconfig(value: unknown): KubeconfigDoc | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const doc = value as KubeconfigDoc;
  return Array.isArray(doc.clusters) || Array.isArray(doc.contexts) ? doc : null;
}

function parseYaml(text: string): unknown {
  try {
    return YAML.parse(text);
  } catch {
    return null;
  }
}

/** PEM and other multi-line secrets: the runner masks whole values, so each line is registered too. */
function withLines(value: string): string[] {
  const lines = value
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length >= 8 && !l.startsWith('-----'));
  return [value, ...lines];
}

function credentialSecrets(doc: KubeconfigDoc): string[] {
  const out: string[] = [];
  for (const entry of doc.users ?? []) {
    const user = (entry?.user ?? {}) as Record<string, unknown>;
    for (const field of USER_SECRET_FIELDS) {
      const value = user[field];
      if (typeof value !== 'string' || value === '') continue;
      out.push(value);
      if (field.endsWith('-data'))
        out.push(...withLines(Buffer.from(value, 'base64').toString('utf8')));
    }
    const providerConfig = (
      user['auth-provider'] as { config?: Record<string, unknown> } | undefined
    )?.config;
    for (const value of Object.values(providerConfig ?? {}))
      if (typeof value === 'string' && value.length >= 8) out.push(value);
    const execEnv = (user.exec as { env?: { value?: unknown }[] } | undefined)?.env;
    for (const item of execEnv ?? [])
      if (typeof item?.value === 'string' && item.value.length >= 4) out.push(item.value);
  }
  return out;
}

/** Accepts plain YAML (or JSON) and base64 of either; rejects anything else naming `input`. */
export function decodeKubeconfig(input: string, raw: string): DecodedKubeconfig {
  const secrets = withLines(raw);
  let doc = asKubeconfig(parseYaml(raw));
  if (!doc) {
    const compact = raw.replace(/\s+/g, '');
    if (BASE64.test(compact)) {
      const decoded = Buffer.from(compact, 'base64').toString('utf8');
      secrets.push(...withLines(decoded));
      doc = asKubeconfig(parseYaml(decoded));
    }
  }
  if (!doc)
    throw new InputError(
      input,
      'is not a kubeconfig: give the file as plain YAML or as base64 (for example `base64 -w0 ~/.kube/config`), stored as a secret.',
    );
  secrets.push(...credentialSecrets(doc));
  return { doc, secrets: [...new Set(secrets)].filter((s) => s.trim() !== '') };
}

function findNamed<T>(list: NamedEntry<T>[] | undefined, name: string): NamedEntry<T> | undefined {
  return (list ?? []).find((entry) => entry?.name === name);
}

interface Selection {
  cluster: ClusterConfig;
  doc: KubeconfigDoc;
  contextName: string;
  input: string;
}

function extract(sel: Selection): {
  cluster: object;
  user: object;
  namespace?: string;
  server: string;
} {
  const { doc, contextName, input } = sel;
  const context = findNamed(doc.contexts, contextName);
  if (!context?.context) {
    const available = (doc.contexts ?? []).map((c) => c?.name).filter(Boolean);
    throw new InputError(
      input,
      `has no context '${contextName}' (it has: ${available.join(', ') || 'none'}). Set 'contexts' to the context names, one per cluster.`,
    );
  }
  const clusterEntry = findNamed(doc.clusters, context.context.cluster ?? '');
  const server = (clusterEntry?.cluster as { server?: unknown } | undefined)?.server;
  if (typeof server !== 'string' || server === '')
    throw new InputError(
      input,
      `context '${contextName}' points at a cluster without a server URL.`,
    );
  const userEntry = findNamed(doc.users, context.context.user ?? '');
  return {
    cluster: clusterEntry?.cluster ?? {},
    user: userEntry?.user ?? {},
    namespace: context.context.namespace,
    server,
  };
}

/**
 * Picks one context per cluster, from the merged `kubeconfig` or from
 * `kubeconfig-1`, `kubeconfig-2`, ..., and builds one minimal kubeconfig.
 */
export function resolveKubeconfigs(
  get: (name: string) => string,
  clusters: ClusterConfig[],
  contextsGiven: boolean,
): ResolvedKubeconfig {
  const merged = get('kubeconfig').trim();
  const perClusterRaw = clusters.map((c) => get(`kubeconfig-${c.index + 1}`).trim());
  const perClusterCount = perClusterRaw.filter((v) => v !== '').length;
  const secrets: string[] = [];
  let selections: Selection[];

  if (merged !== '' && perClusterCount > 0)
    throw new InputError(
      'kubeconfig',
      "is given together with 'kubeconfig-N'. Use one merged kubeconfig or one per cluster, not both.",
    );
  if (merged !== '') {
    const decoded = decodeKubeconfig('kubeconfig', merged);
    secrets.push(...decoded.secrets);
    selections = clusters.map((cluster) => ({
      cluster,
      doc: decoded.doc,
      contextName: cluster.context,
      input: 'kubeconfig',
    }));
  } else if (perClusterCount === clusters.length) {
    selections = clusters.map((cluster, i) => {
      const input = `kubeconfig-${i + 1}`;
      const decoded = decodeKubeconfig(input, perClusterRaw[i] as string);
      secrets.push(...decoded.secrets);
      const fallback = decoded.doc['current-context'] || decoded.doc.contexts?.[0]?.name || '';
      return {
        cluster,
        doc: decoded.doc,
        contextName: contextsGiven ? cluster.context : fallback,
        input,
      };
    });
  } else if (perClusterCount > 0) {
    const missing = perClusterRaw
      .map((v, i) => (v === '' ? `kubeconfig-${i + 1}` : ''))
      .filter(Boolean);
    throw new InputError(
      missing[0] as string,
      `is missing: give one kubeconfig per cluster (${missing.join(', ')} empty), or one merged 'kubeconfig'.`,
    );
  } else {
    throw new InputError(
      'kubeconfig',
      "is required for this phase: give a kubeconfig with one context per cluster (or 'kubeconfig-1' and 'kubeconfig-2'), as a secret. Only 'plan' runs without one.",
    );
  }

  const doc: KubeconfigDoc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [],
    users: [],
    contexts: [],
  };
  const endpoints: ClusterEndpoint[] = [];
  for (const sel of selections) {
    const part = extract(sel);
    const name = sel.cluster.context;
    doc.clusters?.push({ name, cluster: part.cluster as Record<string, unknown> });
    doc.users?.push({ name, user: part.user as Record<string, unknown> });
    doc.contexts?.push({
      name,
      context: {
        cluster: name,
        user: name,
        ...(part.namespace ? { namespace: part.namespace } : {}),
      },
    });
    endpoints.push({ cluster: sel.cluster, server: part.server });
  }
  doc['current-context'] = selections[0]?.cluster.context;
  return { yaml: YAML.stringify(doc), endpoints, secrets: [...new Set(secrets)] };
}

/** A private directory for this run's files, under the runner's temp dir. */
export function makeRunDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.RUNNER_TEMP || os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, 'mesh-federation-'));
  fs.chmodSync(dir, 0o700);
  return dir;
}

export function writePrivateFile(dir: string, name: string, content: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return file;
}
