// The certificate chain a sidecar actually serves, read from
// `istioctl proxy-config secret <pod> -o json`, checked with a real X.509
// implementation (Node's X509Certificate, i.e. OpenSSL):
//   leaf (SPIFFE ID of the workload) <- SPIRE intermediate (a CA)
//   <- cert-manager root (the one in the cluster's CA secret),
// plus the ROOTCA trust bundles (one per trust domain of the mesh) and the
// validity window of every certificate. SPIRE does not send the root in the
// chain, so it is looked up in the workload's own trust bundle.
//
// Beyond RFC 5280 path building, the leaf and its signers are held to the
// SPIFFE X509-SVID profile (§2 one URI SAN, §3 leaf and signing certificates,
// §4 basic constraints and key usage, §5 validation), because Envoy's SPIFFE
// validator and go-spiffe reject what breaks it: a chain that only this
// analyzer accepted would pass here and fail on the wire.
//
// Whatever the input, analyzeChain returns a report: one broken certificate
// must cost its own checks, never the chain section of every cluster.

import type { X509Certificate } from 'node:crypto';
import { allPassed, failed, passed, type Check } from '../model/check.ts';
import type { CertificateRole, CertificateRow, ChainReport } from '../model/evidence.ts';
import {
  DEFAULT_SECRET,
  parseProxySecrets,
  ROOTCA_SECRET,
  type ProxySecrets,
} from './proxy-secret.ts';
import {
  certificateProfile,
  keyDescription,
  normalizeTrustDomain,
  OID,
  oneLine,
  parsePemCertificates,
  parseSpiffeId,
  signatureVerifies,
  spiffeIdProblem,
  spiffeUris,
  workloadSpiffeId,
  type CertificateProfile,
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
  /**
   * `istioctl proxy-config secret <pod> -o json`, raw or parsed; `null` when the pod has no
   * istio-proxy container, so there is no proxy to ask.
   */
  proxySecret: string | object | null;
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

type Read =
  { profile: CertificateProfile; error?: undefined } | { profile?: undefined; error: string };

// Keyed by the parsed object, so a certificate is decoded once however many checks look at it.
const reads = new WeakMap<X509Certificate, Read>();

function read(cert: X509Certificate): Read {
  let r = reads.get(cert);
  if (!r) {
    try {
      r = { profile: certificateProfile(cert) };
    } catch (err) {
      r = { error: (err as Error).message };
    }
    reads.set(cert, r);
  }
  return r;
}

/** The subject in quotes; an empty subject (legal for an SVID) is named by its URI SAN instead. */
function quoted(cert: X509Certificate): string {
  const subject = oneLine(cert.subject);
  if (subject) return `"${subject}"`;
  const uri = read(cert).profile?.uris[0];
  return uri ? `with empty subject (${uri})` : 'with empty subject';
}

/**
 * Self-signed judged by name and signature only: OpenSSL's checkIssued also
 * demands keyCertSign, and a root without it must be reported as such, not
 * mistaken for a missing root.
 */
const selfSigned = (cert: X509Certificate): boolean =>
  cert.subject !== undefined && cert.subject === cert.issuer && signatureVerifies(cert, cert);

function identityProblem(leaf: X509Certificate, expected: ChainExpectation): string | undefined {
  const expectedId = workloadSpiffeId(
    expected.trustDomain,
    expected.namespace,
    expected.serviceAccount,
  );
  const r = read(leaf);
  if (r.error !== undefined) return `cannot read the leaf's extensions: ${r.error}`;
  const uris = r.profile.uris;
  if (!uris.some((u) => /^spiffe:/i.test(u))) {
    return `leaf has no SPIFFE URI SAN, expected ${expectedId}`;
  }
  // X509-SVID §2: a second URI of any scheme makes the identity ambiguous, so the SVID is rejected.
  if (uris.length > 1) {
    return `leaf has ${uris.length} URI SANs (${uris.join(', ')}); an X.509-SVID carries exactly one`;
  }
  const uri = uris[0] as string;
  const invalid = spiffeIdProblem(uri);
  if (invalid) return `leaf URI SAN ${uri} is not a valid SPIFFE ID: ${invalid}`;
  const id = parseSpiffeId(uri);
  if (!id) return `leaf URI SAN ${uri} is not a valid SPIFFE ID`;
  if (id.path === '') {
    return `leaf SPIFFE ID ${uri} has no path; a leaf's SPIFFE ID must name a workload`;
  }
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

const unknownCriticalProblem = (label: string, oids: string[]): string | undefined =>
  oids.length
    ? `${label} carries unrecognized critical extension${oids.length > 1 ? 's' : ''} ${oids.join(', ')} (RFC 5280 §4.2)`
    : undefined;

/** X509-SVID §3.1, §4.1, §4.3, §4.4, §5.2: what makes a certificate an SVID leaf. */
function leafProblems(leaf: X509Certificate): string[] {
  const r = read(leaf);
  if (r.error !== undefined) return [`cannot read the leaf's extensions: ${r.error}`];
  const p = r.profile;
  const problems: string[] = [];
  if (!p.basicConstraints) {
    problems.push('leaf has no basicConstraints extension; an X.509-SVID leaf must set CA:FALSE');
  } else if (p.basicConstraints.ca) {
    problems.push('leaf is a CA certificate; an X.509-SVID leaf must not be');
  }
  if (!p.keyUsage) {
    problems.push('leaf has no keyUsage extension; an X.509-SVID leaf must set digitalSignature');
  } else {
    if (!p.keyUsage.has('digitalSignature')) {
      problems.push('leaf keyUsage lacks digitalSignature, which an X.509-SVID leaf must set');
    }
    const signing = (['keyCertSign', 'cRLSign'] as const).filter((u) => p.keyUsage?.has(u));
    if (signing.length) {
      problems.push(
        `leaf keyUsage sets ${signing.join(' and ')}, which an X.509-SVID leaf must not`,
      );
    }
  }
  if (p.extendedKeyUsage) {
    const eku = p.extendedKeyUsage;
    const missing = (['serverAuth', 'clientAuth'] as const).filter((u) => !eku.includes(OID[u]));
    if (missing.length) {
      problems.push(
        `leaf extendedKeyUsage lacks ${missing.join(' and ')}; an X.509-SVID that has the extension must set serverAuth and clientAuth`,
      );
    }
  }
  if (p.subjectEmpty) {
    if (p.subjectAltNameCritical === undefined) {
      problems.push('leaf has an empty subject and no subjectAltName');
    } else if (!p.subjectAltNameCritical) {
      problems.push(
        'leaf has an empty subject but a non-critical subjectAltName; RFC 5280 §4.1.2.6 requires it critical',
      );
    }
  }
  const unknown = unknownCriticalProblem('leaf', p.unknownCritical);
  if (unknown) problems.push(unknown);
  return problems;
}

interface Problem {
  problem: string;
  details?: Record<string, unknown>;
}

/**
 * Whether `cert` may sign at all (X509-SVID §3.2, §4.1, §4.3), judged before
 * the signature: a non-CA that signed is a different fault from a wrong key,
 * and OpenSSL's checkIssued hides it behind a key-identifier mismatch. The
 * trust anchor may lack keyUsage (RFC 5280 §6.1 does not process it; `openssl
 * req -x509` leaves it out), but one that has it must allow keyCertSign.
 */
function signerProblem(
  cert: X509Certificate,
  label: string,
  anchor: boolean,
  signed?: string,
): Problem | undefined {
  const r = read(cert);
  if (r.error !== undefined)
    return { problem: `cannot read the extensions of ${label}: ${r.error}` };
  const p = r.profile;
  if (!p.basicConstraints?.ca) {
    return {
      problem: `${label} is not a CA certificate`,
      details: {
        notCa: {
          certificate: label,
          basicConstraints: p.basicConstraints ? 'CA:FALSE' : 'absent',
          ...(signed ? { signed } : {}),
        },
      },
    };
  }
  if (!p.keyUsage && !anchor) {
    return {
      problem: `${label} may not sign certificates: it has no keyUsage extension, so no keyCertSign`,
    };
  }
  if (p.keyUsage && !p.keyUsage.has('keyCertSign')) {
    return { problem: `${label} may not sign certificates: its keyUsage lacks keyCertSign` };
  }
  const unknown = anchor ? undefined : unknownCriticalProblem(label, p.unknownCritical);
  return unknown ? { problem: unknown } : undefined;
}

/**
 * One link of the path: `parent` must be a CA allowed to sign, be named as the
 * issuer, match the authority key identifier, and its key must verify the
 * signature. Each failure gets its own reason, in that order.
 */
function linkProblem(
  child: X509Certificate,
  childLabel: string,
  parent: X509Certificate,
  parentRole: 'intermediate' | 'root',
  parentPhrase: string,
  anchor: boolean,
): Problem | undefined {
  const named = child.issuer !== undefined && child.issuer === parent.subject;
  const signed = signatureVerifies(child, parent);
  const head = `${childLabel} not signed by ${parentPhrase} ${quoted(parent)}`;
  const namesIssuer = `it names issuer "${oneLine(child.issuer)}"`;
  if (!named && !signed) return { problem: `${head}: ${namesIssuer}` };
  const signer = signerProblem(
    parent,
    `${parentRole} ${quoted(parent)}`,
    anchor,
    signed ? childLabel : undefined,
  );
  if (signer) return signer;
  const childKeyId = read(child).profile?.authorityKeyId;
  const parentKeyId = read(parent).profile?.subjectKeyId;
  const why = !named
    ? namesIssuer
    : childKeyId && parentKeyId && childKeyId !== parentKeyId
      ? "its authority key identifier does not match that certificate's key"
      : !signed
        ? 'its signature does not verify with that key'
        : !child.checkIssued(parent)
          ? 'OpenSSL does not accept that certificate as its issuer'
          : undefined;
  return why ? { problem: `${head}: ${why}` } : undefined;
}

/** RFC 5280 §4.2.1.9: a CA's pathLenConstraint caps the non-self-issued CAs below it. */
function pathLengthProblem(path: X509Certificate[]): string | undefined {
  for (let k = 1; k < path.length; k++) {
    const cert = path[k] as X509Certificate;
    const limit = read(cert).profile?.basicConstraints?.pathLength;
    if (limit === undefined) continue;
    const below = path.slice(1, k).filter((c) => !read(c).profile?.selfIssued).length;
    if (below > limit) {
      const role = k === path.length - 1 ? 'root' : 'intermediate';
      return `${role} ${quoted(cert)} has pathLenConstraint ${limit} but ${below} intermediate CA certificate(s) below it`;
    }
  }
  return undefined;
}

/** X509-SVID §3.2: a signing certificate's SPIFFE ID, if it has one, names only the trust domain. */
function signingIdProblem(cert: X509Certificate, label: string): string | undefined {
  const uris = read(cert).profile?.uris ?? [];
  if (uris.length === 0) return undefined;
  if (uris.length > 1) {
    return `${label} has ${uris.length} URI SANs (${uris.join(', ')}); a signing certificate carries at most one SPIFFE ID`;
  }
  const uri = uris[0] as string;
  const invalid = spiffeIdProblem(uri);
  if (invalid) return `${label} URI SAN ${uri} is not a valid SPIFFE ID: ${invalid}`;
  if (parseSpiffeId(uri)?.path) {
    return `${label} SPIFFE ID ${uri} has a path; a signing certificate's SPIFFE ID names only its trust domain`;
  }
  return undefined;
}

interface ChainWalk {
  problem?: string;
  details?: Record<string, unknown>;
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
  if (chain.length === 1) {
    return {
      problem: "chain holds only the leaf; SPIRE's intermediate is missing",
      intermediates: [],
    };
  }
  const top = chain[chain.length - 1] as X509Certificate;
  const topIsRoot = selfSigned(top);
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i] as X509Certificate;
    const parent = chain[i + 1] as X509Certificate;
    const parentIsRoot = topIsRoot && i + 1 === chain.length - 1;
    const link = linkProblem(
      child,
      i === 0 ? 'leaf' : `intermediate ${quoted(child)}`,
      parent,
      parentIsRoot ? 'root' : 'intermediate',
      i === 0 ? 'the intermediate' : 'the next certificate',
      parentIsRoot,
    );
    if (link) return { ...link, intermediates: [] };
  }
  let root: X509Certificate | undefined;
  let rootSource: 'chain' | 'bundle' = 'chain';
  let intermediates: X509Certificate[];
  if (topIsRoot) {
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
    rootSource = 'bundle';
    const signers = ownBundle.filter((c) => signatureVerifies(top, c));
    const judge = (c: X509Certificate) =>
      linkProblem(top, `intermediate ${quoted(top)}`, c, 'root', 'the root', true);
    root = signers.find((c) => !judge(c));
    const rejected = signers[0];
    const why = !root && rejected ? judge(rejected) : undefined;
    // The bundle's key signed the intermediate but the certificate may not sign: say that, and place it.
    if (why) return { ...why, intermediates, root: rejected, rootSource };
    if (!root) {
      const cm = cmRoots.find((c) => signatureVerifies(top, c));
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
  if (rootSource === 'chain' && !ownBundle.some((c) => c.fingerprint256 === root.fingerprint256)) {
    return {
      ...walk,
      problem: `root missing from ${ownTd}'s trust bundle: the cert-manager CA ${quoted(root)} is not in it`,
    };
  }
  const tooDeep = pathLengthProblem([chain[0] as X509Certificate, ...intermediates, root]);
  if (tooDeep) return { ...walk, problem: tooDeep };
  const signingId = [
    ...intermediates.map((c) => signingIdProblem(c, `intermediate ${quoted(c)}`)),
    signingIdProblem(root, `root ${quoted(root)}`),
  ].find((problem) => problem !== undefined);
  return signingId ? { ...walk, problem: signingId } : walk;
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
  const selfSignedCm = certManager.certs.filter(selfSigned);
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
    certManagerRoots: selfSignedCm.length > 0 ? selfSignedCm : certManager.certs,
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
  const uris = read(leaf).profile?.uris ?? [];
  const ids = uris.filter((u) => /^spiffe:/i.test(u));
  return problem
    ? failed(name, cluster, problem, { spiffeIds: ids, uris })
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
  const leaf = p.chain[0] as X509Certificate;
  const walk = walkChain(p.chain, p.ownTd, p.ownBundle, p.certManagerRoots);
  const path = [leaf, ...walk.intermediates, ...(walk.root ? [walk.root] : [])];
  const details = { path: path.map((c) => oneLine(c.subject)), ...walk.details };
  // The leaf's own faults come first: they stand whatever signed it.
  const problems = [...leafProblems(leaf), ...(walk.problem ? [walk.problem] : [])];
  if (problems.length) {
    return { check: failed(name, cluster, problems.join('; '), details), walk };
  }
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
  const stale = (td: string) =>
    `${td}'s trust bundle holds no currently valid root (all expired or not yet valid)`;
  const usable = (certs: X509Certificate[]) => certs.some((c) => !validityProblem('', c, p.now));
  for (const [td, bundle] of p.bundles) {
    if (p.meshTds.includes(td) && bundle.certs.length && !usable(bundle.certs)) {
      problems.push(stale(td));
    }
  }
  // A flat trustedCa list is judged per trust domain too, where its roots can be attributed.
  if (p.bundles.size === 0 && p.flat) {
    for (const td of p.meshTds) {
      const own =
        td === p.ownTd ? new Set(p.certManagerRoots.map((c) => c.fingerprint256)) : undefined;
      const want = p.meshRoots.get(td) ?? own;
      const held = p.flat.certs.filter((c) => want?.has(c.fingerprint256));
      if (held.length && !usable(held)) problems.push(stale(td));
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
      rows.push(row(c, selfSigned(c) ? 'root' : 'intermediate', 'chain', p.ownTd));
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
  try {
    return analyze(evidence);
  } catch (err) {
    // Every certificate is judged behind its own guard; this is the last line,
    // so a fault nobody foresaw still yields a report for this workload alone.
    const { cluster, workload } = evidence;
    const reason = `chain analyzer failed on this input: ${(err as Error).message}`;
    const checks = ['SPIFFE ID', 'certificate chain', 'trust bundles', 'certificate validity'].map(
      (name) => failed(`${name} ${workload}`, cluster, reason),
    );
    return { cluster, workload, ok: false, rows: [], checks };
  }
}

function analyze(evidence: ChainEvidence): ChainReport {
  const { cluster, workload } = evidence;
  const names = {
    identity: `SPIFFE ID ${workload}`,
    chain: `certificate chain ${workload}`,
    bundles: `trust bundles ${workload}`,
    validity: `certificate validity ${workload}`,
  };
  if (evidence.proxySecret === null) {
    const reason = `${workload} has no istio-proxy container: the pod is outside the mesh (it was created without sidecar injection)`;
    const checks = Object.values(names).map((name) => failed(name, cluster, reason));
    return { cluster, workload, ok: false, rows: [], checks };
  }
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
  return {
    cluster,
    workload,
    ok: allPassed(checks),
    rows: certificateRows(p, walk),
    checks,
    ...(secrets.chainPem ? { chainPem: secrets.chainPem } : {}),
  };
}
