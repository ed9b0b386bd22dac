// The validated, typed form of the action's inputs. Only `credentials` is
// secret (every string in it is masked the moment it is decoded); the report
// reads the rest and never that.

import type { OverlaySpec } from '../render/istio-overlay.ts';
import type { Pins, ProfileName, Registration } from './profiles.ts';

export const PHASES = [
  'plan',
  'cert-manager',
  'spire',
  'istio',
  'examples',
  'verify',
  'rotate',
  'cleanup',
] as const;
export type Phase = (typeof PHASES)[number];

/** Phases that install something into the clusters, in the order `all` runs them. */
export const INSTALL_PHASES = ['cert-manager', 'spire', 'istio', 'examples'] as const;
export type InstallPhase = (typeof INSTALL_PHASES)[number];

export type ServiceType = 'LoadBalancer' | 'NodePort';

/** auto: use a cert-manager that is already there, else install ours; install; existing. */
export const CERT_MANAGER_MODES = ['auto', 'install', 'existing'] as const;
export type CertManagerMode = (typeof CERT_MANAGER_MODES)[number];

/** When the diagnostics folder is written: after any failure, after every run, never. */
export const DIAGNOSTICS_MODES = ['on-failure', 'always', 'never'] as const;
export type DiagnosticsMode = (typeof DIAGNOSTICS_MODES)[number];

export interface ClusterConfig {
  /** 0-based position in the `contexts` list. */
  index: number;
  /** kubeconfig context used to reach this cluster. */
  context: string;
  /** Istio cluster name (`values.global.multiCluster.clusterName`), a DNS label. */
  name: string;
  /** SPIFFE trust domain of this cluster's SPIRE server. */
  trustDomain: string;
  /** Istio network name. */
  network: string;
  /** API server URL the *other* clusters use to reach this one (remote secrets); empty = from kubeconfig. */
  apiServer: string;
}

/** Every pinned component, from the profile's table with the version inputs applied. */
export type Versions = Pins;

export interface Images {
  /** Registry + repository prefix of the SPIRE images (spire-server, spire-agent, k8s-workload-registrar, spiffe-csi-driver). */
  spireRegistry: string;
  /** Full image of the k8s-workload-registrar; empty = derived from spireRegistry and the SPIRE version. */
  spireRegistrar: string;
  /** Full image of the CSI node-driver-registrar; empty = the upstream one on registry.k8s.io. */
  nodeDriverRegistrar: string;
  /** Istio hub for proxies and gateways. */
  istioHub: string;
  /** Registry + prefix of the sample application images (helloworld, sleep/curl, bookinfo). */
  examplesRegistry: string;
}

export const VERIFY_CHECKS = [
  'readiness',
  'identities',
  'federation',
  'chain',
  'east-west',
  'north-south',
] as const;
export type VerifyCheck = (typeof VERIFY_CHECKS)[number];

/** A multi-cluster mesh needs two; five bounds the N×N federation a run sets up and checks. */
export const MIN_CLUSTERS = 2;
export const MAX_CLUSTERS = 5;

/** Every kubeconfig input: one merged, or one per cluster. */
export const KUBECONFIG_INPUTS = [
  'kubeconfig',
  ...Array.from({ length: MAX_CLUSTERS }, (_, i) => `kubeconfig-${i + 1}`),
];

export interface Credentials {
  /** One kubeconfig holding exactly one context per cluster, named after ClusterConfig.context. */
  yaml: string;
  /** API server URL of each cluster, in cluster order, from its kubeconfig. */
  servers: string[];
  /** Every string that must never be printed: the inputs, their decoded text, credentials. */
  secrets: string[];
  /** The credentials alone (tokens, keys, passwords, certificate data and their lines): what a written file is redacted of. */
  credentials: string[];
}

export interface Config {
  /** Phases to run, in canonical order, `all` already expanded. */
  phases: Phase[];
  clusters: ClusterConfig[];
  /** Decoded once from the kubeconfig inputs; null when only `plan` runs. */
  credentials: Credentials | null;
  /** Checks `verify` runs; the others are listed as not run. */
  verifyChecks: VerifyCheck[];
  serviceType: ServiceType;
  certManagerMode: CertManagerMode;
  /** StorageClass of the SPIRE server's volume: '' = the cluster's default, 'none' = no PVC (emptyDir). */
  spireStorageClass: string;
  meshId: string;
  /** Which pins the versions started from (input `profile`). */
  profile: ProfileName;
  /** Who registers workloads with SPIRE; follows the profile. */
  registration: Registration;
  versions: Versions;
  istioctlBaseUrl: string;
  certManagerBaseUrl: string;
  /** Where the SPIRE Controller Manager's CRDs come from (profile current). */
  spireCrdsBaseUrl: string;
  images: Images;
  /** `spec` fields merged into every control-plane IstioOperator (input `istio-overlay`); null = none. */
  istioOverlay: OverlaySpec | null;
  /** Upper bound for every wait (rollouts, webhooks, certificates), in milliseconds. */
  timeoutMs: number;
  /** Requests sent per traffic check. */
  requests: number;
  rotation: { duration: string; renewBefore: string };
  /** Where rendered manifests are written, one file per cluster and phase. */
  manifestsDir: string;
  /** Who this run is, for the run lock: unique id, and what another run is told. */
  run: { id: string; description: string };
  diagnostics: DiagnosticsMode;
  /** Where the diagnostics folder is written, per cluster. */
  diagnosticsDir: string;
}

/** Label put on every object the action creates; cleanup deletes by it. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'mesh-federation';
/** Label naming the phase that created an object. */
export const PHASE_LABEL = 'mesh-federation.io/phase';
/** Field manager for server-side apply. */
export const FIELD_MANAGER = 'mesh-federation';
