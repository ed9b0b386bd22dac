// Small helpers over Node's X509Certificate (OpenSSL underneath), shared by the
// chain and federation analyzers. Parsing is strict: a malformed certificate
// throws, because a bundle we cannot read must never count as a good one.

import { X509Certificate } from 'node:crypto';

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

/** `child` names `parent` as issuer and `parent`'s key verifies `child`'s signature. */
export const isSignedBy = (child: X509Certificate, parent: X509Certificate): boolean =>
  child.checkIssued(parent) && child.verify(parent.publicKey);

export const isSelfSigned = (cert: X509Certificate): boolean => isSignedBy(cert, cert);

const CURVE_NAMES: Record<string, string> = {
  prime256v1: 'P-256',
  secp256r1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

/** "EC P-256", "RSA 2048", "Ed25519": what the summary table shows. */
export function keyDescription(cert: X509Certificate): string {
  const key = cert.publicKey;
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

/** One-line subject for messages: Node separates RDNs with newlines. */
export const oneLine = (dn: string): string => dn.split('\n').filter(Boolean).join(', ');
