// Small helpers over Node's X509Certificate (OpenSSL underneath), shared by the
// chain and federation analyzers. Parsing is strict: a malformed certificate
// throws, because a bundle we cannot read must never count as a good one.

import { X509Certificate, type KeyObject } from 'node:crypto';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM text, in order; other PEM blocks (keys) are ignored. */
export function parsePemCertificates(pem: string): X509Certificate[] {
  return (pem.match(PEM_BLOCK) ?? []).map((block) => new X509Certificate(block));
}

/** A certificate from base64 DER, as JWKS `x5c` entries carry it. */
export const certificateFromBase64Der = (der: string): X509Certificate =>
  new X509Certificate(Buffer.from(der, 'base64'));

/** base64 (as protobuf JSON encodes `bytes`) to text. */
export const decodeBase64 = (value: string): string =>
  Buffer.from(value, 'base64').toString('utf8');

/**
 * `parent`'s key verifies `child`'s signature, names and extensions aside. A key
 * type OpenSSL cannot use makes verify throw; that is "not signed", not a crash.
 */
export function signatureVerifies(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** `child` names `parent` as issuer and `parent`'s key verifies `child`'s signature. */
export const isSignedBy = (child: X509Certificate, parent: X509Certificate): boolean =>
  child.checkIssued(parent) && signatureVerifies(child, parent);

export const isSelfSigned = (cert: X509Certificate): boolean => isSignedBy(cert, cert);

const CURVE_NAMES: Record<string, string> = {
  prime256v1: 'P-256',
  secp256r1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

/** "EC P-256", "RSA 2048", "Ed25519": what the summary table shows. */
export function keyDescription(cert: X509Certificate): string {
  let key: KeyObject;
  try {
    key = cert.publicKey;
  } catch {
    // a key OpenSSL cannot load still gets a row, so the table shows the certificate
    return 'unreadable key';
  }
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = details.namedCurve ?? 'unknown curve';
      return `EC ${CURVE_NAMES[curve] ?? curve}`;
    }
    case 'rsa':
      return `RSA ${details.modulusLength ?? '?'}`;
    case 'rsa-pss':
      return `RSA-PSS ${details.modulusLength ?? '?'}`;
    case 'ed25519':
      return 'Ed25519';
    case 'ed448':
      return 'Ed448';
    default:
      return key.asymmetricKeyType ?? 'unknown';
  }
}

/**
 * Splits Node's `subjectAltName` string ("URI:spiffe://a/b, DNS:x"). Node
 * JSON-quotes a value that holds a comma or quote, so split outside quotes only.
 */
export function subjectAltNames(cert: X509Certificate): { type: string; value: string }[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '"' && text[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && ch === ',' && text[i + 1] === ' ') {
      parts.push(current);
      current = '';
      i++;
      continue;
    }
    current += ch;
  }
  if (current) parts.push(current);
  return parts.map((part) => {
    const colon = part.indexOf(':');
    const type = part.slice(0, colon);
    let value = part.slice(colon + 1);
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        // keep the raw text: a SAN we cannot unquote still must not match by accident
      }
    }
    return { type, value };
  });
}

export const spiffeUris = (cert: X509Certificate): string[] =>
  subjectAltNames(cert)
    .filter((san) => san.type === 'URI' && san.value.toLowerCase().startsWith('spiffe://'))
    .map((san) => san.value);

export interface SpiffeId {
  trustDomain: string;
  path: string;
}

export function parseSpiffeId(id: string): SpiffeId | undefined {
  const match = /^spiffe:\/\/([^/]+)(\/.*)?$/i.exec(id.trim());
  if (!match) return undefined;
  return { trustDomain: (match[1] as string).toLowerCase(), path: match[2] ?? '' };
}

/** "bar.com", "spiffe://bar.com" and "spiffe://bar.com/" all name the same trust domain. */
export const normalizeTrustDomain = (value: string): string =>
  value
    .trim()
    .replace(/^spiffe:\/\//i, '')
    .replace(/\/+$/, '')
    .toLowerCase();

export const workloadSpiffeId = (trustDomain: string, namespace: string, sa: string): string =>
  `spiffe://${normalizeTrustDomain(trustDomain)}/ns/${namespace}/sa/${sa}`;

/**
 * One-line subject for messages: Node separates RDNs with newlines. Node gives
 * `undefined` for an empty subject, which an X.509-SVID may have.
 */
export const oneLine = (dn: string | undefined): string =>
  (dn ?? '').split('\n').filter(Boolean).join(', ');

// Node's X509Certificate does not expose key usage bits, path length,
// extension criticality or the raw URI SANs, and the X.509-SVID rules turn on
// exactly those; so the extensions are read from the DER here. Malformed DER
// throws; callers judge one certificate at a time and report the error.

interface Tlv {
  tag: number;
  contents: Buffer;
}

function readTlv(der: Buffer, at: number): { tlv: Tlv; next: number } {
  if (at + 2 > der.length) throw new Error('truncated DER');
  const tag = der[at] as number;
  if ((tag & 0x1f) === 0x1f) throw new Error('unsupported high-number DER tag');
  let length = der[at + 1] as number;
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    // 0x80 alone is BER's indefinite length, never valid DER
    if (bytes === 0 || bytes > 4) throw new Error('invalid DER length');
    if (start + bytes > der.length) throw new Error('truncated DER');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[start + i] as number);
    start += bytes;
  }
  const end = start + length;
  if (end > der.length) throw new Error('truncated DER');
  return { tlv: { tag, contents: der.subarray(start, end) }, next: end };
}

function children(parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < parent.contents.length;) {
    const { tlv, next } = readTlv(parent.contents, at);
    out.push(tlv);
    at = next;
  }
  return out;
}

function ofTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (!tlv || tlv.tag !== tag) throw new Error(`malformed ${what}`);
  return tlv;
}

function decodeOid(bytes: Buffer): string {
  if (bytes.length === 0) throw new Error('empty OID');
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  if ((bytes.at(-1) as number) & 0x80) throw new Error('truncated OID');
  const first = arcs.shift() as number;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

const decodeInteger = (bytes: Buffer): number => {
  if (bytes.length === 0 || bytes.length > 6 || (bytes[0] as number) & 0x80) {
    throw new Error('unsupported INTEGER');
  }
  return bytes.reduce((n, b) => n * 256 + b, 0);
};

export const OID = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  crlDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  authorityKeyIdentifier: '2.5.29.35',
  policyConstraints: '2.5.29.36',
  extendedKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** The extensions OpenSSL (and so Node, and Envoy's BoringSSL) knows how to process. */
const PROCESSED_EXTENSIONS = new Set<string>(
  Object.values(OID).filter((o) => o.startsWith('2.5.29.')),
);

/** RFC 5280 §4.2.1.3 bit order. */
export const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsage = (typeof KEY_USAGE_BITS)[number];

export interface CertificateProfile {
  /** The subject Name holds no RDN at all. */
  subjectEmpty: boolean;
  /** Self-issued in RFC 5280's sense: the same name as subject and issuer. */
  selfIssued: boolean;
  /** `undefined` when the certificate has no basicConstraints extension. */
  basicConstraints?: { ca: boolean; pathLength?: number };
  /** `undefined` when the certificate has no keyUsage extension. */
  keyUsage?: Set<KeyUsage>;
  extendedKeyUsage?: string[];
  /** Every uniformResourceIdentifier SAN, any scheme, in order. */
  uris: string[];
  /** `undefined` when the certificate has no subjectAltName extension. */
  subjectAltNameCritical?: boolean;
  subjectKeyId?: string;
  authorityKeyId?: string;
  /** Critical extensions nothing on the path can process: RFC 5280 §6.1.3 rejects those. */
  unknownCritical: string[];
}

function parseExtension(
  profile: CertificateProfile,
  oid: string,
  critical: boolean,
  value: Buffer,
) {
  const root = readTlv(value, 0).tlv;
  switch (oid) {
    case OID.basicConstraints: {
      const fields = children(ofTag(root, 0x30, 'basicConstraints'));
      let i = 0;
      let ca = false;
      if (fields[i]?.tag === 0x01) ca = (fields[i++] as Tlv).contents[0] !== 0;
      const pathLength =
        fields[i]?.tag === 0x02 ? decodeInteger((fields[i] as Tlv).contents) : undefined;
      profile.basicConstraints = { ca, ...(pathLength !== undefined ? { pathLength } : {}) };
      break;
    }
    case OID.keyUsage: {
      const bits = ofTag(root, 0x03, 'keyUsage').contents;
      const set = new Set<KeyUsage>();
      KEY_USAGE_BITS.forEach((name, n) => {
        const byte = bits[1 + (n >> 3)];
        if (byte !== undefined && byte & (0x80 >> (n & 7))) set.add(name);
      });
      profile.keyUsage = set;
      break;
    }
    case OID.extendedKeyUsage:
      profile.extendedKeyUsage = children(ofTag(root, 0x30, 'extendedKeyUsage')).map((t) =>
        decodeOid(ofTag(t, 0x06, 'extendedKeyUsage').contents),
      );
      break;
    case OID.subjectAltName:
      profile.subjectAltNameCritical = critical;
      for (const name of children(ofTag(root, 0x30, 'subjectAltName'))) {
        // [6] IMPLICIT IA5String: uniformResourceIdentifier
        if (name.tag === 0x86) profile.uris.push(name.contents.toString('latin1'));
      }
      break;
    case OID.subjectKeyIdentifier:
      profile.subjectKeyId = ofTag(root, 0x04, 'subjectKeyIdentifier').contents.toString('hex');
      break;
    case OID.authorityKeyIdentifier: {
      const keyId = children(ofTag(root, 0x30, 'authorityKeyIdentifier')).find(
        (t) => t.tag === 0x80,
      );
      if (keyId) profile.authorityKeyId = keyId.contents.toString('hex');
      break;
    }
    default:
      if (critical && !PROCESSED_EXTENSIONS.has(oid)) profile.unknownCritical.push(oid);
  }
}

/** The X.509 fields the SVID rules need, read from the certificate's DER. Throws on malformed DER. */
export function certificateProfile(cert: X509Certificate): CertificateProfile {
  const certificate = ofTag(readTlv(cert.raw, 0).tlv, 0x30, 'Certificate');
  const tbs = children(ofTag(children(certificate)[0], 0x30, 'TBSCertificate'));
  let i = tbs[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
  i += 2; // serialNumber, signature
  const issuer = ofTag(tbs[i++], 0x30, 'issuer');
  i++; // validity
  const subject = ofTag(tbs[i++], 0x30, 'subject');
  const profile: CertificateProfile = {
    subjectEmpty: subject.contents.length === 0,
    selfIssued: issuer.contents.equals(subject.contents),
    uris: [],
    unknownCritical: [],
  };
  const extensions = tbs.slice(i).find((t) => t.tag === 0xa3); // [3] EXPLICIT extensions
  if (!extensions) return profile;
  const seen = new Set<string>();
  for (const ext of children(ofTag(children(extensions)[0], 0x30, 'extensions'))) {
    const [id, second, third] = children(ofTag(ext, 0x30, 'extension'));
    const oid = decodeOid(ofTag(id, 0x06, 'extension id').contents);
    if (seen.has(oid)) throw new Error(`extension ${oid} appears twice (RFC 5280 §4.2)`);
    seen.add(oid);
    const critical = second?.tag === 0x01 && second.contents[0] !== 0;
    const value = ofTag(second?.tag === 0x01 ? third : second, 0x04, `extension ${oid}`);
    try {
      parseExtension(profile, oid, critical, value.contents);
    } catch (err) {
      throw new Error(`cannot decode extension ${oid}: ${(err as Error).message}`, { cause: err });
    }
  }
  return profile;
}

/**
 * Why `id` is not a SPIFFE ID under the SPIFFE-ID spec §2 (scheme `spiffe`, a
 * lowercase [a-z0-9._-] trust domain with no userinfo or port, no query or
 * fragment, no percent-encoding, path segments of [a-zA-Z0-9._-] that are not
 * empty, `.` or `..`), or `undefined` when it is one. The trust domain is
 * never lowercased here: a validator that folds case accepts IDs the issuer
 * never minted.
 */
export function spiffeIdProblem(id: string): string | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(id)?.[1];
  if (scheme === undefined) return 'it has no URI scheme';
  if (scheme !== 'spiffe') {
    return scheme.toLowerCase() === 'spiffe'
      ? `its scheme "${scheme}" must be lowercase "spiffe"`
      : `its scheme is "${scheme}", not "spiffe"`;
  }
  if (!id.startsWith('spiffe://')) return 'it has no "//" authority after "spiffe:"';
  if (id.includes('?')) return 'it has a query component';
  if (id.includes('#')) return 'it has a fragment component';
  if (id.includes('%')) return 'it holds percent-encoded characters';
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (authority.includes('@')) return 'its authority has a userinfo part';
  if (authority.includes(':')) return 'its authority has a port';
  if (authority === '') return 'its trust domain is empty';
  if (/[A-Z]/.test(authority)) return `its trust domain "${authority}" is not lowercase`;
  if (!/^[a-z0-9._-]+$/.test(authority)) {
    return `its trust domain "${authority}" holds characters outside [a-z0-9._-]`;
  }
  if (authority.length > 255) return 'its trust domain is longer than 255 characters';
  if (path === '') return undefined;
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') return 'its path has an empty segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return `its path has a "${segment}" segment`;
    if (!/^[A-Za-z0-9._-]+$/.test(segment)) {
      return `its path segment "${segment}" holds characters outside [a-zA-Z0-9._-]`;
    }
  }
  return undefined;
}
