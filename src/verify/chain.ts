// The certificate chain a sidecar actually serves, read from
// `istioctl proxy-config secret <pod> -o json`, checked with a real X.509
// implementation (Node's X509Certificate, i.e. OpenSSL):
//   leaf (SPIFFE ID of the workload) <- SPIRE intermediate (a CA)
//   <- cert-manager root (the one in the cluster's CA secret),
// plus the ROOTCA trust bundles (one per trust domain of the mesh) and the
// validity window of every certificate. SPIRE does not send the root in the
// chain, so it is looked up in the workload's own trust bundle.

import type { X509Certificate } from 'node:crypto';
import { allPassed, failed, passed, type Check } from './check.ts';
import {
  DEFAULT_SECRET,
  parseProxySecrets,
  ROOTCA_SECRET,
  type ProxySecrets,
} from './proxy-secret.ts';
import {
  isSelfSigned,
  isSignedBy,
  keyDescription,
  normalizeTrustDomain,
  oneLine,
  parsePemCertificates,
  parseSpiffeId,
  spiffeUris,
  workloadSpiffeId,
} from './x509.ts';

export interface ChainExpectation {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export interface ChainEvidence {
  cluster: string;
  /** Label for the checks, e.g. "helloworld/helloworld-v1-6bb5b589d6-jq4gn". */
  workload: string;
  /** `istioctl proxy-config secret <pod> -o json`, raw or parsed. */
  proxySecret: string | object;
  expected: ChainExpectation;
  /** ca.crt (or tls.crt) of this cluster's cert-manager root CA secret. */
  certManagerCaPem: string;
  meshTrustDomains: string[];
  now: Date;
  /**
   * Each trust domain's cert-manager root, when known: lets a flat trustedCa
   * bundle be attributed to trust domains, and checks each domain's bundle holds it.
   */
  meshRootsPem?: Record<string, string>;
}

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
}

function row(
  cert: X509Certificate,
  role: CertificateRole,
  source: CertificateRow['source'],
  trustDomain: string,
): CertificateRow {
  const spiffeId = spiffeUris(cert)[0];
  return {
    role,
    source,
    trustDomain,
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    ...(spiffeId ? { spiffeId } : {}),
    notBefore: cert.validFromDate.toISOString(),
    notAfter: cert.validToDate.toISOString(),
    keyType: keyDescription(cert),
    sha256: cert.fingerprint256,
  };
}

const quoted = (cert: X509Certificate): string => `"${oneLine(cert.subject)}"`;

function identityProblem(leaf: X509Certificate, expected: ChainExpectation): string | undefined {
  const expectedId = workloadSpiffeId(
    expected.trustDomain,
    expected.namespace,
    expected.serviceAccount,
  );
  const uris = spiffeUris(leaf);
  if (uris.length === 0) return `leaf has no SPIFFE URI SAN, expected ${expectedId}`;
  if (uris.length > 1) {
    return `leaf has ${uris.length} SPIFFE URI SANs (${uris.join(', ')}); an X.509-SVID carries exactly one`;
  }
  const uri = uris[0] as string;
  const id = parseSpiffeId(uri);
  if (!id) return `leaf URI SAN ${uri} is not a valid SPIFFE ID`;
  if (id.trustDomain !== normalizeTrustDomain(expected.trustDomain)) {
    return `wrong trust domain: leaf is ${uri}, expected ${expectedId}`;
  }
  const parts = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id.path);
  if (!parts) return `unexpected SPIFFE ID path: leaf is ${uri}, expected ${expectedId}`;
  if (parts[1] !== expected.namespace) {
    return `wrong namespace: leaf is ${uri}, expected ${expectedId}`;
  }
  if (parts[2] !== expected.serviceAccount) {
    return `wrong service account: leaf is ${uri}, expected ${expectedId}`;
  }
  return undefined;
}

interface ChainWalk {
  problem?: string;
  intermediates: X509Certificate[];
  root?: X509Certificate;
  rootSource?: 'chain' | 'bundle';
}

function walkChain(
  chain: X509Certificate[],
  ownTd: string,
  ownBundle: X509Certificate[],
  cmRoots: X509Certificate[],
): ChainWalk {
  const leaf = chain[0] as X509Certificate;
  if (leaf.ca) {
    return {
      problem: 'leaf is a CA certificate; an X.509-SVID leaf must not be',
      intermediates: [],
    };
  }
  if (chain.length === 1) {
    return {
      problem: "chain holds only the leaf; SPIRE's intermediate is missing",
      intermediates: [],
    };
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i] as X509Certificate;
    const parent = chain[i + 1] as X509Certificate;
    if (isSignedBy(child, parent)) continue;
    const why =
      child.issuer !== parent.subject
        ? `it names issuer "${oneLine(child.issuer)}"`
        : !child.checkIssued(parent)
          ? "its authority key identifier does not match that certificate's key"
          : 'its signature does not verify with that key';
    return {
      problem:
        i === 0
          ? `leaf not signed by the intermediate ${quoted(parent)}: ${why}`
          : `intermediate ${quoted(child)} not signed by the next certificate ${quoted(parent)}: ${why}`,
      intermediates: [],
    };
  }
  const top = chain[chain.length - 1] as X509Certificate;
  let root: X509Certificate | undefined;
  let rootSource: 'chain' | 'bundle' = 'chain';
  let intermediates: X509Certificate[];
  if (isSelfSigned(top)) {
    if (chain.length === 2) {
      return {
        problem: `leaf is signed directly by the root ${quoted(top)}; SPIRE's intermediate is missing`,
        intermediates: [],
      };
    }
    root = top;
    intermediates = chain.slice(1, -1);
  } else {
    intermediates = chain.slice(1);
    root = ownBundle.find((c) => isSignedBy(top, c));
    rootSource = 'bundle';
    if (!root) {
      const cm = cmRoots.find((c) => isSignedBy(top, c));
      if (cm) {
        return {
          problem: `root missing from ${ownTd}'s trust bundle: ${quoted(top)} is signed by the cert-manager CA ${quoted(cm)}, which the bundle does not hold`,
          intermediates,
        };
      }
      return {
        problem: `intermediate not signed by the root: neither ${ownTd}'s trust bundle (${ownBundle.length} certificate(s)) nor the cert-manager CA verifies ${quoted(top)} (issuer "${oneLine(top.issuer)}")`,
        intermediates,
      };
    }
  }
  const walk = { intermediates, root, rootSource };
  const notCa = intermediates.find((c) => !c.ca);
  if (notCa) return { ...walk, problem: `intermediate ${quoted(notCa)} is not a CA certificate` };
  const cmFingerprints = new Set(cmRoots.map((c) => c.fingerprint256));
  if (!cmFingerprints.has(root.fingerprint256)) {
    const cm = cmRoots[0];
    return {
      ...walk,
      problem: `root is not the cert-manager CA: chain ends at ${quoted(root)} (${root.fingerprint256}), the cert-manager CA is ${
        cm ? `${quoted(cm)} (${cm.fingerprint256})` : 'unknown'
      }`,
    };
  }
  if (!root.ca) return { ...walk, problem: `root ${quoted(root)} is not a CA certificate` };
  if (rootSource === 'chain' && !ownBundle.some((c) => c.fingerprint256 === root.fingerprint256)) {
    return {
      ...walk,
      problem: `root missing from ${ownTd}'s trust bundle: the cert-manager CA ${quoted(root)} is not in it`,
    };
  }
  return walk;
}

function validityProblem(label: string, cert: X509Certificate, now: Date): string | undefined {
  if (now < cert.validFromDate) {
    return `${label} ${quoted(cert)} not yet valid (valid from ${cert.validFromDate.toISOString()})`;
  }
  if (now > cert.validToDate) {
    return `${label} ${quoted(cert)} expired at ${cert.validToDate.toISOString()}`;
  }
  return undefined;
}

const tryParse = (pem: string): { certs: X509Certificate[]; error?: string } => {
  try {
    return { certs: parsePemCertificates(pem) };
  } catch (err) {
    return { certs: [], error: (err as Error).message };
  }
};

/** What the checks look at, parsed once. */
interface Parsed {
  ownTd: string;
  meshTds: string[];
  now: Date;
  chain: X509Certificate[];
  /** Why there is no chain to check, if there is none. */
  chainMissing?: string;
  certManager: ParsedPem;
  /** The self-signed certificates of the cert-manager CA PEM (all of them if none is). */
  certManagerRoots: X509Certificate[];
  /** ROOTCA per trust domain (SPIFFE validator), empty for a flat list. */
  bundles: Map<string, ParsedPem>;
  /** ROOTCA as one trustedCa list. */
  flat?: ParsedPem;
  ownBundle: X509Certificate[];
  /** Fingerprints of each trust domain's cert-manager root, when given. */
  meshRoots: Map<string, Set<string>>;
}

type ParsedPem = ReturnType<typeof tryParse>;

function parseEvidence(evidence: ChainEvidence, secrets: ProxySecrets): Parsed {
  const ownTd = normalizeTrustDomain(evidence.expected.trustDomain);
  const certManager = tryParse(evidence.certManagerCaPem);
  const selfSigned = certManager.certs.filter((c) => isSelfSigned(c));
  const bundles = new Map<string, ParsedPem>();
  for (const [td, pem] of secrets.trustDomainBundles ?? []) bundles.set(td, tryParse(pem));
  const flat = secrets.trustedCaPem !== undefined ? tryParse(secrets.trustedCaPem) : undefined;
  const parsedChain = secrets.chainPem !== undefined ? tryParse(secrets.chainPem) : undefined;
  const chain = parsedChain?.certs ?? [];
  const chainMissing = !parsedChain
    ? `no "${DEFAULT_SECRET}" certificate in the proxy's secrets (${secrets.secretNames.join(', ') || 'none'}); the workload got no SVID`
    : parsedChain.error
      ? `cannot parse the certificate chain: ${parsedChain.error}`
      : chain.length === 0
        ? `the "${DEFAULT_SECRET}" secret holds no certificate`
        : undefined;
  const meshRoots = new Map<string, Set<string>>();
  for (const [td, pem] of Object.entries(evidence.meshRootsPem ?? {})) {
    meshRoots.set(
      normalizeTrustDomain(td),
      new Set(tryParse(pem).certs.map((c) => c.fingerprint256)),
    );
  }
  return {
    ownTd,
    meshTds: [...new Set([ownTd, ...evidence.meshTrustDomains.map(normalizeTrustDomain)])],
    now: evidence.now,
    chain,
    ...(chainMissing ? { chainMissing } : {}),
    certManager,
    certManagerRoots: selfSigned.length > 0 ? selfSigned : certManager.certs,
    bundles,
    ...(flat ? { flat } : {}),
    ownBundle: secrets.trustDomainBundles ? (bundles.get(ownTd)?.certs ?? []) : (flat?.certs ?? []),
    meshRoots,
  };
}

function identityCheck(
  name: string,
  cluster: string,
  p: Parsed,
  expected: ChainExpectation,
): Check {
  if (p.chainMissing) return failed(name, cluster, p.chainMissing);
  const leaf = p.chain[0] as X509Certificate;
  const problem = identityProblem(leaf, expected);
  const ids = spiffeUris(leaf);
  return problem
    ? failed(name, cluster, problem, { spiffeIds: ids })
    : passed(name, cluster, ids[0] as string);
}

function chainCheck(name: string, cluster: string, p: Parsed): { check: Check; walk: ChainWalk } {
  const none: ChainWalk = { intermediates: [] };
  if (p.chainMissing) return { check: failed(name, cluster, p.chainMissing), walk: none };
  if (p.certManager.error || p.certManager.certs.length === 0) {
    const why = p.certManager.error ?? 'no certificate in the PEM';
    return {
      check: failed(name, cluster, `cannot read the cert-manager CA certificate: ${why}`),
      walk: none,
    };
  }
  const walk = walkChain(p.chain, p.ownTd, p.ownBundle, p.certManagerRoots);
  const path = [
    p.chain[0] as X509Certificate,
    ...walk.intermediates,
    ...(walk.root ? [walk.root] : []),
  ];
  const details = { path: path.map((c) => oneLine(c.subject)) };
  if (walk.problem) return { check: failed(name, cluster, walk.problem, details), walk };
  const links = walk.intermediates.map(quoted).join(' <- ');
  const reason = `leaf <- ${links} <- cert-manager root ${quoted(walk.root as X509Certificate)}`;
  return { check: passed(name, cluster, reason, details), walk };
}

/** ROOTCA must hold every trust domain of the mesh, labelled (SPIFFE validator) or attributable (flat). */
function bundlesCheck(name: string, cluster: string, p: Parsed): Check {
  const problems: string[] = [];
  if (p.bundles.size > 0 || !p.flat) {
    if (p.bundles.size === 0) {
      return failed(name, cluster, `no "${ROOTCA_SECRET}" trust bundle in the proxy's secrets`);
    }
    const missing = p.meshTds.filter(
      (td) => !p.bundles.get(td)?.certs.length && !p.bundles.get(td)?.error,
    );
    if (missing.length) problems.push(`ROOTCA trust bundles lack ${missing.join(', ')}`);
    for (const td of p.meshTds) {
      const bundle = p.bundles.get(td);
      if (bundle?.error) problems.push(`cannot parse ${td}'s trust bundle: ${bundle.error}`);
      const want = p.meshRoots.get(td);
      if (
        bundle?.certs.length &&
        want?.size &&
        !bundle.certs.some((c) => want.has(c.fingerprint256))
      ) {
        problems.push(`${td}'s trust bundle does not hold ${td}'s cert-manager CA`);
      }
    }
    const held = [...p.bundles.keys()];
    return problems.length
      ? failed(name, cluster, problems.join('; '), { held, expected: p.meshTds })
      : passed(name, cluster, `ROOTCA holds ${p.meshTds.join(', ')}`, { held });
  }

  const flat = p.flat;
  const have = new Set(flat.certs.map((c) => c.fingerprint256));
  if (flat.error) problems.push(`cannot parse the trustedCa bundle: ${flat.error}`);
  for (const td of p.meshTds) {
    const own =
      td === p.ownTd ? new Set(p.certManagerRoots.map((c) => c.fingerprint256)) : undefined;
    const want = p.meshRoots.get(td) ?? own;
    if (!want?.size) {
      problems.push(
        `ROOTCA is one trustedCa list without trust domains; cannot confirm it holds ${td}`,
      );
    } else if (![...want].some((f) => have.has(f))) {
      problems.push(`ROOTCA trusted CAs lack ${td}'s root`);
    }
  }
  return problems.length
    ? failed(name, cluster, problems.join('; '))
    : passed(name, cluster, `ROOTCA trusted CAs hold the roots of ${p.meshTds.join(', ')}`);
}

function validityCheck(name: string, cluster: string, p: Parsed, walk: ChainWalk): Check {
  if (p.chainMissing) return failed(name, cluster, p.chainMissing);
  const leaf = p.chain[0] as X509Certificate;
  const labelled: [string, X509Certificate][] = [
    ['leaf', leaf],
    ...walk.intermediates.map((c): [string, X509Certificate] => ['intermediate', c]),
    ...(walk.root ? [['root', walk.root] as [string, X509Certificate]] : []),
  ];
  // Certificates the walk could not place still must be in their window.
  for (const c of p.chain.slice(1)) {
    if (!labelled.some(([, placed]) => placed === c)) labelled.push(['chain certificate', c]);
  }
  const problems = labelled
    .map(([label, c]) => validityProblem(label, c, p.now))
    .filter((problem) => problem !== undefined);
  // An old root may linger in a bundle after a rotation; a bundle without any valid root is broken.
  for (const [td, bundle] of p.bundles) {
    const usable = bundle.certs.some((c) => !validityProblem('', c, p.now));
    if (p.meshTds.includes(td) && bundle.certs.length && !usable) {
      problems.push(
        `${td}'s trust bundle holds no currently valid root (all expired or not yet valid)`,
      );
    }
  }
  if (problems.length) return failed(name, cluster, problems.join('; '));
  const when = p.now.toISOString();
  return passed(
    name,
    cluster,
    `${labelled.length} certificate(s) valid at ${when}; leaf expires ${leaf.validToDate.toISOString()}`,
  );
}

/** The summary table: the served chain, its root, then the other trust domains' roots. */
function certificateRows(p: Parsed, walk: ChainWalk): CertificateRow[] {
  const rows: CertificateRow[] = [];
  if (!p.chainMissing) {
    rows.push(row(p.chain[0] as X509Certificate, 'leaf', 'chain', p.ownTd));
    const placed = walk.root ? walk.intermediates : p.chain.slice(1);
    for (const c of placed) {
      rows.push(row(c, isSelfSigned(c) ? 'root' : 'intermediate', 'chain', p.ownTd));
    }
    if (walk.root) rows.push(row(walk.root, 'root', walk.rootSource ?? 'bundle', p.ownTd));
  }
  for (const td of p.meshTds) {
    if (td === p.ownTd) continue;
    for (const c of p.bundles.get(td)?.certs ?? []) rows.push(row(c, 'root', 'bundle', td));
  }
  return rows;
}

export function analyzeChain(evidence: ChainEvidence): ChainReport {
  const { cluster, workload } = evidence;
  const names = {
    identity: `SPIFFE ID ${workload}`,
    chain: `certificate chain ${workload}`,
    bundles: `trust bundles ${workload}`,
    validity: `certificate validity ${workload}`,
  };
  let secrets: ProxySecrets;
  try {
    secrets = parseProxySecrets(evidence.proxySecret);
  } catch (err) {
    const reason = `cannot read istioctl proxy-config secret output: ${(err as Error).message}`;
    const checks = Object.values(names).map((name) => failed(name, cluster, reason));
    return { cluster, workload, ok: false, rows: [], checks };
  }
  const p = parseEvidence(evidence, secrets);
  const { check: chain, walk } = chainCheck(names.chain, cluster, p);
  const checks = [
    identityCheck(names.identity, cluster, p, evidence.expected),
    chain,
    bundlesCheck(names.bundles, cluster, p),
    validityCheck(names.validity, cluster, p, walk),
  ];
  return { cluster, workload, ok: allPassed(checks), rows: certificateRows(p, walk), checks };
}
