// Kubeconfig inputs: plain YAML or base64, one merged file or one per cluster.
// Everything secret inside is collected for masking before anything is logged,
// and the one file we write (for istioctl and the client) is 0600 in a 0700
// directory under the runner's temp dir, removed by the post step.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { InputError } from './input-error.ts';
import { KUBECONFIG_INPUTS, type ClusterConfig, type Credentials } from './config.ts';

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
  /** The credentials alone, without the kubeconfig's own text. */
  credentials: string[];
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
  const credentials = credentialSecrets(doc);
  secrets.push(...credentials);
  const clean = (list: string[]): string[] => [...new Set(list)].filter((s) => s.trim() !== '');
  return { doc, secrets: clean(secrets), credentials: clean(credentials) };
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
 * Decodes every kubeconfig input given, once, handing each one's secrets to
 * `mask` as soon as it is read, before any other input is judged.
 */
export function decodeKubeconfigInputs(
  get: (name: string) => string,
  mask: (secret: string) => void,
): Map<string, DecodedKubeconfig> {
  const decoded = new Map<string, DecodedKubeconfig>();
  const errors: unknown[] = [];
  for (const input of KUBECONFIG_INPUTS) {
    const raw = get(input).trim();
    if (raw === '') continue;
    try {
      const one = decodeKubeconfig(input, raw);
      for (const secret of one.secrets) mask(secret);
      decoded.set(input, one);
    } catch (error) {
      // The other inputs are still decoded, so every credential is masked before this is reported.
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
  return decoded;
}

/**
 * Picks one context per cluster, from the merged `kubeconfig` or from
 * `kubeconfig-1`, `kubeconfig-2`, ..., and builds one minimal kubeconfig.
 */
export function resolveKubeconfigs(
  decoded: Map<string, DecodedKubeconfig>,
  clusters: ClusterConfig[],
  contextsGiven: boolean,
): Credentials {
  const merged = decoded.get('kubeconfig');
  const perCluster = clusters.map((c) => decoded.get(`kubeconfig-${c.index + 1}`));
  const perClusterCount = [...decoded.keys()].filter((k) => k !== 'kubeconfig').length;
  const secrets = [...decoded.values()].flatMap((d) => d.secrets);
  const credentials = [...decoded.values()].flatMap((d) => d.credentials);
  let selections: Selection[];

  if (merged && perClusterCount > 0)
    throw new InputError(
      'kubeconfig',
      "is given together with 'kubeconfig-N'. Use one merged kubeconfig or one per cluster, not both.",
    );
  if (merged) {
    selections = clusters.map((cluster) => ({
      cluster,
      doc: merged.doc,
      contextName: cluster.context,
      input: 'kubeconfig',
    }));
  } else if (perCluster.every((d) => d !== undefined) && perClusterCount === clusters.length) {
    selections = clusters.map((cluster, i) => {
      const doc = (perCluster[i] as DecodedKubeconfig).doc;
      const fallback = doc['current-context'] || doc.contexts?.[0]?.name || '';
      return {
        cluster,
        doc,
        contextName: contextsGiven ? cluster.context : fallback,
        input: `kubeconfig-${i + 1}`,
      };
    });
  } else if (perClusterCount > 0) {
    const missing = clusters
      .filter((_, i) => perCluster[i] === undefined)
      .map((c) => `kubeconfig-${c.index + 1}`);
    const extra = [...decoded.keys()].filter(
      (k) => k !== 'kubeconfig' && Number(k.slice('kubeconfig-'.length)) > clusters.length,
    );
    if (missing.length === 0)
      throw new InputError(
        extra[0] as string,
        `is given, but 'contexts' names ${clusters.length} clusters. Give one kubeconfig per cluster named in 'contexts'.`,
      );
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
  const servers: string[] = [];
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
    servers.push(part.server);
  }
  doc['current-context'] = selections[0]?.cluster.context;
  return {
    yaml: YAML.stringify(doc),
    servers,
    secrets: [...new Set(secrets)],
    credentials: [...new Set(credentials)],
  };
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
