// SPIRE federation: every server must hold every other trust domain's bundle,
// and that copy must carry the same X.509 roots the other domain's own server
// shows (else workloads fail mTLS across clusters after a CA rotation).
//
// Reads `spire-server bundle show -format spiffe` (a JWKS document whose
// "x509-svid" keys carry the root in `x5c`) and `bundle list -format spiffe`
// (each bundle preceded by a banner of asterisks naming its trust domain),
// as printed by cmd/spire-server/cli/bundle/common.go. PEM (the default
// `-format pem`) is read too, since the same banners frame it.

import type { X509Certificate } from 'node:crypto';
import { failed, passed, type Check } from '../model/check.ts';
import type { FederationCell, FederationMatrix } from '../model/evidence.ts';
import {
  certificateFromBase64Der,
  normalizeTrustDomain,
  oneLine,
  parsePemCertificates,
} from './x509.ts';

export interface BundleRoot {
  fingerprint256: string;
  subject: string;
  notAfter: string;
}

export interface SpiffeBundle {
  trustDomain?: string;
  roots: BundleRoot[];
  /** Parsed roots, for verifying chains against the bundle. */
  certificates: X509Certificate[];
  jwtKeys: number;
  sequence?: number;
  refreshHint?: number;
}

export class BundleOutputError extends Error {
  override name = 'BundleOutputError';
}

interface Jwk {
  use?: string;
  x5c?: string[];
}
interface Jwks {
  keys?: Jwk[];
  spiffe_sequence?: number;
  spiffe_refresh_hint?: number;
}

const describeRoot = (cert: X509Certificate): BundleRoot => ({
  fingerprint256: cert.fingerprint256,
  subject: oneLine(cert.subject),
  notAfter: cert.validToDate.toISOString(),
});

function fromCertificates(certificates: X509Certificate[], trustDomain?: string): SpiffeBundle {
  return {
    ...(trustDomain ? { trustDomain } : {}),
    roots: certificates.map(describeRoot),
    certificates,
    jwtKeys: 0,
  };
}

/** One bundle, JWKS (`-format spiffe`) or PEM; throws BundleOutputError. */
export function parseBundle(text: string, trustDomain?: string): SpiffeBundle {
  const trimmed = text.trim();
  const td = trustDomain ? normalizeTrustDomain(trustDomain) : undefined;
  if (!trimmed.startsWith('{')) {
    if (!trimmed.includes('-----BEGIN CERTIFICATE-----')) {
      throw new BundleOutputError(
        `neither a SPIFFE bundle (JWKS) nor PEM: ${trimmed.slice(0, 80)}`,
      );
    }
    try {
      return fromCertificates(parsePemCertificates(trimmed), td);
    } catch (err) {
      throw new BundleOutputError(`bad certificate in PEM bundle: ${(err as Error).message}`);
    }
  }
  let doc: Jwks;
  try {
    doc = JSON.parse(trimmed) as Jwks;
  } catch (err) {
    throw new BundleOutputError(`SPIFFE bundle does not parse as JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc.keys)) throw new BundleOutputError('SPIFFE bundle has no "keys" list');
  const certificates: X509Certificate[] = [];
  let jwtKeys = 0;
  for (const key of doc.keys) {
    if (key.use === 'jwt-svid') jwtKeys++;
    if (key.use !== 'x509-svid') continue;
    const der = key.x5c?.[0];
    if (!der) throw new BundleOutputError('x509-svid key without an x5c certificate');
    try {
      certificates.push(certificateFromBase64Der(der));
    } catch (err) {
      throw new BundleOutputError(`bad x5c certificate: ${(err as Error).message}`);
    }
  }
  return {
    ...fromCertificates(certificates, td),
    jwtKeys,
    ...(doc.spiffe_sequence !== undefined ? { sequence: doc.spiffe_sequence } : {}),
    ...(doc.spiffe_refresh_hint !== undefined ? { refreshHint: doc.spiffe_refresh_hint } : {}),
  };
}

const BANNER = /^\*{10,}\r?\n\* (.+?)\r?\n\*{10,}\r?$/gm;

/** `bundle list` output to bundles by trust domain name; empty output means no federated bundles. */
export function parseBundleList(text: string): Map<string, SpiffeBundle> {
  const bundles = new Map<string, SpiffeBundle>();
  const headers = [...text.matchAll(BANNER)];
  const before = text.slice(0, headers[0]?.index ?? text.length).trim();
  if (before)
    throw new BundleOutputError(`unexpected text before the first bundle: ${before.slice(0, 80)}`);
  headers.forEach((header, i) => {
    const td = normalizeTrustDomain(header[1] as string);
    const start = (header.index ?? 0) + header[0].length;
    const end = headers[i + 1]?.index ?? text.length;
    bundles.set(td, parseBundle(text.slice(start, end), td));
  });
  return bundles;
}

export interface FederationServerEvidence {
  cluster: string;
  trustDomain: string;
  /** `spire-server bundle show -format spiffe` */
  bundleShow: string;
  /** `spire-server bundle list -format spiffe` */
  bundleList: string;
}

const fingerprints = (b: SpiffeBundle): Set<string> =>
  new Set(b.roots.map((r) => r.fingerprint256));

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };
function attempt<T>(fn: () => T): Parsed<T> {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Put into every check's details, so the matrix is read from the checks themselves. */
const cell = (holder: string, of: string, state: FederationCell) => ({
  federation: { holder, of, state },
});

/** The matrix of `analyzeFederation`'s checks, in the order of `trustDomains`. */
export function federationMatrix(
  trustDomains: readonly string[],
  checks: readonly Check[],
): FederationMatrix {
  const tds = trustDomains.map(normalizeTrustDomain);
  const states = new Map<string, FederationCell>();
  for (const c of checks) {
    const f = c.details?.federation as
      { holder: string; of: string; state: FederationCell } | undefined;
    if (f) states.set(`${f.holder} ${f.of}`, f.state);
  }
  // A pair without a check was never judged: unreadable, never a pass.
  const cells = tds.map((holder) => tds.map((of) => states.get(`${holder} ${of}`) ?? 'unreadable'));
  return {
    trustDomains: tds,
    cells,
    ok: cells.every((row, i) => row.every((s, j) => (i === j ? s === 'own' : s === 'same'))),
  };
}

/** One check per server's own bundle and one per (server, other trust domain). */
export function analyzeFederation(servers: readonly FederationServerEvidence[]): Check[] {
  const parsed = servers.map((s) => ({
    ...s,
    td: normalizeTrustDomain(s.trustDomain),
    own: attempt(() => parseBundle(s.bundleShow, s.trustDomain)),
    list: attempt(() => parseBundleList(s.bundleList)),
  }));
  const checks: Check[] = [];

  for (const server of parsed) {
    const ownName = `own bundle ${server.td}`;
    if (!server.own.ok) {
      checks.push(
        failed(ownName, server.cluster, `cannot read bundle show output: ${server.own.error}`, {
          ...cell(server.td, server.td, 'unreadable'),
        }),
      );
    } else if (server.own.value.roots.length === 0) {
      checks.push(
        failed(ownName, server.cluster, `${server.td}'s own bundle holds no X.509 root`, {
          ...cell(server.td, server.td, 'empty'),
        }),
      );
    } else {
      const own = server.own.value;
      checks.push(
        passed(ownName, server.cluster, `${own.roots.length} X.509 root(s)`, {
          ...cell(server.td, server.td, 'own'),
          roots: own.roots,
          ...(own.sequence !== undefined ? { sequence: own.sequence } : {}),
        }),
      );
    }

    for (const other of parsed) {
      if (other.td === server.td) continue;
      const name = `federated bundle ${other.td} on ${server.td}`;
      const at = (state: FederationCell) => cell(server.td, other.td, state);
      if (!server.list.ok) {
        checks.push(
          failed(name, server.cluster, `cannot read bundle list output: ${server.list.error}`, {
            ...at('unreadable'),
          }),
        );
        continue;
      }
      const copy = server.list.value.get(other.td);
      if (!copy) {
        checks.push(
          failed(
            name,
            server.cluster,
            `missing bundle: ${server.td}'s server holds no bundle for ${other.td}`,
            {
              ...at('missing'),
              held: [...server.list.value.keys()],
            },
          ),
        );
        continue;
      }
      if (!other.own.ok) {
        checks.push(
          failed(
            name,
            server.cluster,
            `cannot compare: ${other.td}'s own bundle is unreadable (${other.own.error})`,
            { ...at('unreadable') },
          ),
        );
        continue;
      }
      const expected = other.own.value.roots;
      const want = fingerprints(other.own.value);
      const have = fingerprints(copy);
      const lacking = expected.filter((r) => !have.has(r.fingerprint256));
      const extra = copy.roots.filter((r) => !want.has(r.fingerprint256));
      const details = (state: FederationCell) => ({
        ...at(state),
        expected,
        held: copy.roots,
      });
      if (lacking.length > 0) {
        checks.push(
          failed(
            name,
            server.cluster,
            `stale bundle for ${other.td}: lacks ${lacking.length} root(s) that ${other.td}'s server holds (${lacking
              .map((r) => r.subject)
              .join('; ')})`,
            details('stale'),
          ),
        );
      } else if (extra.length > 0) {
        checks.push(
          failed(
            name,
            server.cluster,
            `different bundle for ${other.td}: holds ${extra.length} root(s) that ${other.td}'s server does not (${extra
              .map((r) => r.subject)
              .join('; ')})`,
            details('different'),
          ),
        );
      } else if (want.size === 0) {
        checks.push(
          failed(
            name,
            server.cluster,
            `${other.td}'s bundle holds no X.509 root to trust`,
            details('empty'),
          ),
        );
      } else {
        checks.push(
          passed(
            name,
            server.cluster,
            `holds ${other.td}'s bundle, same ${want.size} root(s) as its server`,
            details('same'),
          ),
        );
      }
    }
  }
  return checks;
}
