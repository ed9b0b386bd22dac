// Evidence the analyzers produce and the report shows: certificate chains,
// the federation matrix and traffic answers, as data.
import type { Check } from './check.ts';

export type CertificateRole = 'leaf' | 'intermediate' | 'root';

export interface CertificateRow {
  role: CertificateRole;
  /** Where the certificate came from: the served chain, or a ROOTCA trust bundle. */
  source: 'chain' | 'bundle';
  trustDomain: string;
  subject: string;
  issuer: string;
  spiffeId?: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  sha256: string;
}

export interface ChainReport {
  cluster: string;
  workload: string;
  ok: boolean;
  rows: CertificateRow[];
  checks: Check[];
  /** The served chain as the proxy holds it (PEM), for the diagnostics bundle. */
  chainPem?: string;
}

export interface VersionStats {
  count: number;
  /** Fraction of all samples, 0..1. */
  share: number;
  cluster?: string;
  instances: string[];
}

export interface TrafficSummary {
  total: number;
  succeeded: number;
  failed: number;
  versions: Record<string, VersionStats>;
  /** Successful responses that are not a helloworld answer. */
  unrecognized: number;
  failures: Record<string, number>;
  latencyMs?: { p50: number; p95: number; max: number };
}

/**
 * What one server holds of one trust domain's bundle: `own` on the diagonal, `same` when its copy
 * carries exactly the roots that domain's server shows.
 */
export type FederationCell =
  'own' | 'same' | 'missing' | 'stale' | 'different' | 'empty' | 'unreadable';

/** The N×N view of the checks below: row = the server holding, column = whose bundle. */
export interface FederationMatrix {
  trustDomains: string[];
  /** cells[i][j]: what trustDomains[i]'s server holds of trustDomains[j]'s bundle. */
  cells: FederationCell[][];
  ok: boolean;
}
