// Action inputs -> a validated Config. Every rejection names the input and the
// fix, and happens before anything contacts a cluster or a download site.
import path from 'node:path';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import semver from 'semver';
import YAML from 'yaml';
import { InputError } from './input-error.ts';
import { parseDuration } from './duration.ts';
import {
  CERT_MANAGER_MODES,
  DIAGNOSTICS_MODES,
  MAX_CLUSTERS,
  MIN_CLUSTERS,
  PHASES,
  VERIFY_CHECKS,
  type ClusterConfig,
  type Config,
  type Phase,
  type ServiceType,
  type VerifyCheck,
} from './config.ts';
import {
  decodeKubeconfigInputs,
  resolveKubeconfigs,
  type DecodedKubeconfig,
} from './kubeconfig.ts';
import { ownedFieldsTouched, type OverlaySpec } from '../render/istio-overlay.ts';
import { PROFILE_TABLE, PROFILES, stackProblem, type Stack } from './profiles.ts';

export type GetInput = (name: string) => string;

const ALL_EXPANDS_TO: Phase[] = ['cert-manager', 'spire', 'istio', 'examples', 'verify'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// SPIFFE spec: a trust domain is lowercase letters, digits, '.', '-' and '_'.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const IMAGE_PREFIX = /^[a-z0-9]([a-z0-9._:/-]*[a-z0-9])?$/;

const list = (value: string): string[] =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

/** The workflow run (or local process) this is: what the run lock shows another run. */
function runIdentity(env: NodeJS.ProcessEnv): { id: string; description: string } {
  const unique = `${os.hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  if (env.GITHUB_RUN_ID) {
    const where = `${env.GITHUB_SERVER_URL ?? 'https://github.com'}/${env.GITHUB_REPOSITORY ?? '?'}/actions/runs/${env.GITHUB_RUN_ID}`;
    const job = `${env.GITHUB_WORKFLOW ?? 'workflow'} · ${env.GITHUB_JOB ?? 'job'} · attempt ${env.GITHUB_RUN_ATTEMPT ?? '1'}`;
    return {
      id: `${env.GITHUB_RUN_ID}.${env.GITHUB_RUN_ATTEMPT ?? '1'}/${unique}`,
      description: `${job} (${where})`,
    };
  }
  return { id: unique, description: `a run on ${os.hostname()} (pid ${process.pid})` };
}

function oneOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  const value = allowed.find((a) => a === raw.toLowerCase());
  if (!value)
    throw new InputError(name, `'${raw}' is not supported. Use one of: ${allowed.join(', ')}.`);
  return value;
}

function parsePhases(raw: string): Phase[] {
  const names = list(raw === '' ? 'all' : raw);
  if (names.length === 0)
    throw new InputError('phase', 'is empty. Use one of: all, ' + PHASES.join(', ') + '.');
  const wanted = new Set<Phase>();
  for (const name of names) {
    if (name === 'all') ALL_EXPANDS_TO.forEach((p) => wanted.add(p));
    else if ((PHASES as readonly string[]).includes(name)) wanted.add(name as Phase);
    else
      throw new InputError(
        'phase',
        `'${name}' is not a phase. Use 'all' or a comma list of: ${PHASES.join(', ')}.`,
      );
  }
  return PHASES.filter((p) => wanted.has(p));
}

function parseVersion(input: string, raw: string, withV: boolean): string {
  const parsed = semver.parse(raw.trim().replace(/^v/, ''));
  if (!parsed) {
    const example = withV ? 'v1.15.1' : '1.22.1';
    throw new InputError(input, `'${raw}' is not a version. Write it like '${example}'.`);
  }
  return withV ? `v${parsed.version}` : parsed.version;
}

function parseUrl(input: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new InputError(input, `'${raw}' is not a URL. Give an absolute http(s) URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new InputError(input, `'${raw}' must be an http(s) URL.`);
  if (url.username || url.password)
    throw new InputError(input, 'must not carry credentials; serve the mirror without them.');
  return url.toString().replace(/\/+$/, '');
}

function parseDurationInput(input: string, raw: string, minMs: number, maxMs: number): number {
  const ms = parseDuration(raw);
  if (ms === null)
    throw new InputError(
      input,
      `'${raw}' is not a duration. Write it like '90s', '10m' or '1h30m'.`,
    );
  if (ms < minMs || ms > maxMs)
    throw new InputError(
      input,
      `'${raw}' is out of range (${minMs / 1000}s to ${maxMs / 3_600_000}h).`,
    );
  return ms;
}

function parseCount(input: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim()))
    throw new InputError(input, `'${raw}' is not a whole number between ${min} and ${max}.`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new InputError(input, `${n} is out of range (${min} to ${max}).`);
  return n;
}

function perCluster(input: string, values: string[], count: number, what: string): string[] {
  if (values.length !== count)
    throw new InputError(
      input,
      `has ${values.length} ${what}${values.length === 1 ? '' : 's'} for ${count} clusters (contexts). Give exactly one per cluster, comma separated, in the order of 'contexts'.`,
    );
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) throw new InputError(input, `names '${v}' twice; each cluster needs its own.`);
    seen.add(v);
  }
  return values;
}

function dnsLabels(input: string, values: string[]): string[] {
  for (const v of values)
    if (!DNS_LABEL.test(v))
      throw new InputError(
        input,
        `'${v}' is not a DNS label (lowercase letters, digits and '-', at most 63).`,
      );
  return values;
}

function trustDomains(values: string[]): string[] {
  for (const td of values) {
    if (td.length > 255 || !TRUST_DOMAIN.test(td) || td.startsWith('.') || td.endsWith('.'))
      throw new InputError(
        'trust-domains',
        `'${td}' is not a SPIFFE trust domain name: use lowercase letters, digits, '.', '-' and '_' (like 'foo.com'), without 'spiffe://'.`,
      );
  }
  return values;
}

function imagePrefix(input: string, raw: string): string {
  const value = raw.trim().replace(/\/+$/, '');
  if (!IMAGE_PREFIX.test(value))
    throw new InputError(
      input,
      `'${raw}' is not a registry/repository prefix like 'ghcr.io/spiffe'.`,
    );
  return value;
}

function imageRef(input: string, raw: string): string {
  const value = raw.trim();
  if (
    !/^[a-z0-9]([a-z0-9._:/-]*[a-z0-9])?(@sha256:[a-f0-9]{64})?$/.test(value) ||
    !/[:@]/.test(value.split('/').pop() ?? '')
  )
    throw new InputError(
      input,
      `'${raw}' is not a full image reference like 'registry.example/spiffe/k8s-workload-registrar:1.5.1'.`,
    );
  return value;
}

function apiServers(raw: string, count: number): string[] {
  const values = list(raw);
  if (values.length === 0) return Array.from({ length: count }, () => '');
  if (values.length !== count)
    throw new InputError(
      'api-servers',
      `has ${values.length} URLs for ${count} clusters; give one per cluster or none.`,
    );
  return values.map((v) => {
    const url = parseUrl('api-servers', v);
    if (!url.startsWith('https://'))
      throw new InputError('api-servers', `'${v}' must be an https URL.`);
    return url;
  });
}

const OVERLAY_HEADER =
  "'apiVersion: install.istio.io/v1alpha1', 'kind: IstioOperator' and a 'spec'";

/** The `spec` of the user's IstioOperator overlay; null when the input is empty. */
export function parseIstioOverlay(raw: string): OverlaySpec | null {
  if (raw.trim() === '') return null;
  const docs = YAML.parseAllDocuments(raw);
  if (!Array.isArray(docs) || docs.length !== 1)
    throw new InputError(
      'istio-overlay',
      'must be one YAML document: an IstioOperator whose spec is merged into the one the action renders.',
    );
  const [doc] = docs;
  const error = doc?.errors[0];
  if (error)
    throw new InputError(
      'istio-overlay',
      `is not valid YAML (${error.message.split('\n')[0]}). Write an IstioOperator with ${OVERLAY_HEADER}.`,
    );
  const value: unknown = doc?.toJS();
  const isMap = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (
    !isMap(value) ||
    value.kind !== 'IstioOperator' ||
    value.apiVersion !== 'install.istio.io/v1alpha1'
  )
    throw new InputError('istio-overlay', `must be an IstioOperator: ${OVERLAY_HEADER}.`);
  const extra = Object.keys(value).filter((k) => !['apiVersion', 'kind', 'spec'].includes(k));
  if (extra.length > 0)
    throw new InputError(
      'istio-overlay',
      `has ${extra.map((k) => `'${k}'`).join(', ')}; only 'spec' is merged (the action names and places its IstioOperator). Remove ${extra.length === 1 ? 'it' : 'them'}.`,
    );
  const spec = value.spec;
  if (!isMap(spec) || Object.keys(spec).length === 0)
    throw new InputError(
      'istio-overlay',
      "has no 'spec' to merge; give the fields to change under 'spec'.",
    );
  const touched = ownedFieldsTouched(spec as OverlaySpec);
  if (touched.length > 0)
    throw new InputError(
      'istio-overlay',
      touched
        .map((t) => `'${t.field}' is set by ${t.setBy}`)
        .join('; ')
        .concat('. Remove it from the overlay.'),
    );
  return spec as OverlaySpec;
}

/**
 * Without `contexts`: with per-cluster kubeconfigs, one cluster per file given,
 * named by each file's current-context (cluster-K where two files share one);
 * with a merged kubeconfig, cluster-1 and cluster-2.
 */
function defaultContexts(kubeconfigs: Map<string, DecodedKubeconfig>): string[] {
  const perCluster = Array.from({ length: MAX_CLUSTERS }, (_, i) => i + 1).filter((n) =>
    kubeconfigs.has(`kubeconfig-${n}`),
  );
  const count = Math.max(MIN_CLUSTERS, ...perCluster);
  const fallback = Array.from({ length: count }, (_, i) => `cluster-${i + 1}`);
  if (perCluster.length !== count) return fallback;
  const own = fallback.map((_, i) => {
    const doc = kubeconfigs.get(`kubeconfig-${i + 1}`)?.doc;
    return doc?.['current-context'] || doc?.contexts?.[0]?.name || '';
  });
  return own.every((c) => c !== '') && new Set(own).size === own.length ? own : fallback;
}

/**
 * `mask` receives every credential found in the kubeconfig inputs, before any
 * other input is judged, so no later error can carry one unmasked.
 */
export function parseInputs(
  get: GetInput,
  env: NodeJS.ProcessEnv = process.env,
  mask: (secret: string) => void = () => {},
): Config {
  const input = (name: string, fallback: string): string => get(name).trim() || fallback;

  // First, so every credential is masked before any input can fail.
  let kubeconfigs = new Map<string, DecodedKubeconfig>();
  let kubeconfigError: unknown;
  try {
    kubeconfigs = decodeKubeconfigInputs(get, mask);
  } catch (error) {
    kubeconfigError = error;
  }
  const phases = parsePhases(get('phase').trim());
  const needsClusters = phases.some((p) => p !== 'plan');
  // `plan` touches no cluster, so a kubeconfig it was given is only masked, never judged.
  if (kubeconfigError !== undefined && needsClusters) throw kubeconfigError;
  const contextsRaw = get('contexts').trim();
  const contexts = contextsRaw ? list(contextsRaw) : defaultContexts(kubeconfigs);
  if (contexts.length < MIN_CLUSTERS)
    throw new InputError(
      'contexts',
      `names fewer than two contexts; a multi-cluster mesh needs at least two.`,
    );
  if (contexts.length > MAX_CLUSTERS)
    throw new InputError(
      'contexts',
      `names ${contexts.length} contexts; the action federates at most ${MAX_CLUSTERS} clusters. Split the clusters into meshes of ${MAX_CLUSTERS} or fewer.`,
    );
  perCluster('contexts', contexts, contexts.length, 'context');
  const n = contexts.length;

  const domains = trustDomains(
    perCluster('trust-domains', list(input('trust-domains', 'foo.com,bar.com')), n, 'trust domain'),
  );
  const names = dnsLabels(
    'cluster-names',
    perCluster(
      'cluster-names',
      // A context such as an EKS ARN is no DNS label: such a cluster is named by its position.
      list(
        input(
          'cluster-names',
          contexts.map((c, i) => (DNS_LABEL.test(c) ? c : `cluster-${i + 1}`)).join(','),
        ),
      ),
      n,
      'cluster name',
    ),
  );
  const networks = dnsLabels(
    'networks',
    perCluster(
      'networks',
      list(input('networks', contexts.map((_, i) => `network${i + 1}`).join(','))),
      n,
      'network',
    ),
  );
  const servers = apiServers(get('api-servers'), n);

  const serviceTypeRaw = input('service-type', 'LoadBalancer');
  const serviceType = (['LoadBalancer', 'NodePort'] as const).find(
    (t) => t.toLowerCase() === serviceTypeRaw.toLowerCase(),
  );
  if (!serviceType)
    throw new InputError(
      'service-type',
      `'${serviceTypeRaw}' is not supported. Use 'LoadBalancer' or 'NodePort' (local clusters).`,
    );

  const certManagerModeRaw = input('cert-manager-mode', 'auto');
  const certManagerMode = CERT_MANAGER_MODES.find((m) => m === certManagerModeRaw.toLowerCase());
  if (!certManagerMode)
    throw new InputError(
      'cert-manager-mode',
      `'${certManagerModeRaw}' is not supported. Use 'auto' (use a cert-manager already there, else install one), 'install' or 'existing'.`,
    );

  const spireStorageClass = get('spire-storage-class').trim();
  if (spireStorageClass !== '' && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(spireStorageClass))
    throw new InputError(
      'spire-storage-class',
      `'${spireStorageClass}' is not a StorageClass name (lowercase letters, digits, '-' and '.'). Leave it empty for the cluster's default class, or set 'none' to run the SPIRE server without a volume.`,
    );

  const profile = oneOf('profile', input('profile', 'seed'), PROFILES);
  const { pins, registration } = PROFILE_TABLE[profile];
  const stack: Stack = {
    profile,
    registration,
    pins: {
      istio: parseVersion('istio-version', input('istio-version', pins.istio), false),
      spire: parseVersion('spire-version', input('spire-version', pins.spire), false),
      certManager: parseVersion(
        'cert-manager-version',
        input('cert-manager-version', pins.certManager),
        true,
      ),
      spireControllerManager:
        registration === 'spire-controller-manager'
          ? parseVersion(
              'spire-controller-manager-version',
              input('spire-controller-manager-version', pins.spireControllerManager),
              false,
            )
          : '',
      spiffeCsiDriver: parseVersion(
        'spiffe-csi-driver-version',
        input('spiffe-csi-driver-version', pins.spiffeCsiDriver),
        false,
      ),
      nodeDriverRegistrar: pins.nodeDriverRegistrar,
    },
  };
  const problem = stackProblem(stack);
  if (problem) throw new InputError(problem.input, problem.message);
  for (const [name, needs] of [
    ['spire-registrar-image', 'k8s-workload-registrar'],
    ['spire-controller-manager-version', 'spire-controller-manager'],
  ] as const)
    if (get(name).trim() !== '' && registration !== needs)
      throw new InputError(
        name,
        `is set, but profile '${profile}' registers workloads with the ${registration}, not the ${needs}. Remove it, or pick the profile that runs the ${needs}.`,
      );

  const meshId = input('mesh-id', 'mesh1');
  dnsLabels('mesh-id', [meshId]);

  const rotationDurationRaw = input('rotation-duration', '720h');
  const renewBeforeRaw = input('rotation-renew-before', '360h');
  const rotationMs = parseDurationInput(
    'rotation-duration',
    rotationDurationRaw,
    3_600_000,
    8760 * 3_600_000,
  );
  const renewMs = parseDurationInput(
    'rotation-renew-before',
    renewBeforeRaw,
    300_000,
    8760 * 3_600_000,
  );
  if (renewMs >= rotationMs)
    throw new InputError(
      'rotation-renew-before',
      `${renewBeforeRaw} must be shorter than rotation-duration (${rotationDurationRaw}).`,
    );

  const checksRaw = list(input('verify-checks', VERIFY_CHECKS.join(',')));
  for (const c of checksRaw)
    if (!(VERIFY_CHECKS as readonly string[]).includes(c))
      throw new InputError(
        'verify-checks',
        `'${c}' is not a check. Use a comma list of: ${VERIFY_CHECKS.join(', ')}.`,
      );

  const tempDir = env.RUNNER_TEMP || os.tmpdir();
  const clusters: ClusterConfig[] = contexts.map((context, index) => ({
    index,
    context,
    name: names[index] as string,
    trustDomain: domains[index] as string,
    network: networks[index] as string,
    apiServer: servers[index] as string,
  }));

  const config: Config = {
    phases,
    clusters,
    credentials: needsClusters
      ? resolveKubeconfigs(kubeconfigs, clusters, contextsRaw !== '')
      : null,
    verifyChecks: checksRaw as VerifyCheck[],
    serviceType: serviceType as ServiceType,
    certManagerMode,
    spireStorageClass,
    meshId,
    profile,
    registration,
    versions: stack.pins,
    istioctlBaseUrl: parseUrl(
      'istioctl-base-url',
      input('istioctl-base-url', 'https://github.com/istio/istio/releases/download'),
    ),
    spireCrdsBaseUrl: parseUrl(
      'spire-crds-base-url',
      input(
        'spire-crds-base-url',
        'https://raw.githubusercontent.com/spiffe/spire-controller-manager',
      ),
    ),
    certManagerBaseUrl: parseUrl(
      'cert-manager-base-url',
      input(
        'cert-manager-base-url',
        'https://github.com/cert-manager/cert-manager/releases/download',
      ),
    ),
    images: {
      spireRegistry: imagePrefix(
        'spire-image-registry',
        input('spire-image-registry', 'ghcr.io/spiffe'),
      ),
      spireRegistrar:
        get('spire-registrar-image').trim() === ''
          ? ''
          : imageRef('spire-registrar-image', get('spire-registrar-image')),
      nodeDriverRegistrar:
        get('csi-node-driver-registrar-image').trim() === ''
          ? ''
          : imageRef('csi-node-driver-registrar-image', get('csi-node-driver-registrar-image')),
      istioHub: imagePrefix('istio-hub', input('istio-hub', 'docker.io/istio')),
      examplesRegistry: imagePrefix(
        'examples-image-registry',
        input('examples-image-registry', 'docker.io/istio'),
      ),
    },
    istioOverlay: parseIstioOverlay(get('istio-overlay')),
    timeoutMs: parseDurationInput('timeout', input('timeout', '10m'), 1000, 24 * 3_600_000),
    requests: parseCount('requests', input('requests', '20'), 1, 1000),
    rotation: { duration: rotationDurationRaw, renewBefore: renewBeforeRaw },
    manifestsDir: path.resolve(
      input('manifests-dir', path.join(tempDir, 'mesh-federation', 'manifests')),
    ),
    run: runIdentity(env),
    diagnostics: oneOf('diagnostics', input('diagnostics', 'on-failure'), DIAGNOSTICS_MODES),
    diagnosticsDir: path.resolve(
      input('diagnostics-dir', path.join(tempDir, 'mesh-federation', 'diagnostics')),
    ),
  };
  return config;
}
