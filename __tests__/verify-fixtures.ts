// Test PKI and tool outputs for the verify analyzers: real certificates made at
// test time with @peculiar/x509 on Node's WebCrypto, wrapped in the shapes the
// tools print (istioctl proxy-config secret -o json, spire-server bundle show /
// list -format spiffe).

import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';

// @peculiar/x509 resolves its services through tsyringe, which needs the
// Reflect metadata API loaded before it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
export type Cert = InstanceType<typeof x509.X509Certificate>;
type Keys = webcrypto.CryptoKeyPair;

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const RSA = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};
const DAY = 86_400_000;

export interface Issued {
  cert: Cert;
  keys: Keys;
  pem: string;
}

export const NOW = new Date('2026-11-28T12:00:00Z');

const ecKeys = (): Promise<Keys> =>
  webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']) as Promise<Keys>;
const rsaKeys = (): Promise<Keys> =>
  webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify']) as Promise<Keys>;

const wrap = (cert: Cert, keys: Keys): Issued => ({ cert, keys, pem: cert.toString('pem') });

export interface Window {
  notBefore?: Date;
  notAfter?: Date;
}

/**
 * Overrides of one certificate's profile, to build the shapes the X.509-SVID
 * rules reject; `false` leaves that extension out.
 */
export interface ProfileOptions {
  ca?: boolean;
  pathLength?: number;
  basicConstraints?: false;
  /** x509.KeyUsageFlags bits. */
  keyUsage?: number | false;
  /** OIDs. */
  extendedKeyUsage?: string[] | false;
  /** Subject DN; '' for an empty subject. */
  subject?: string;
  sanCritical?: boolean;
  /** Appended as they are, e.g. an unknown critical extension. */
  extraExtensions?: InstanceType<typeof x509.Extension>[];
}

const CA_USAGE =
  x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature;

function profileExtensions(
  options: ProfileOptions,
  defaults: { ca: boolean; keyUsage: number; extendedKeyUsage?: string[] },
): InstanceType<typeof x509.Extension>[] {
  const extensions: InstanceType<typeof x509.Extension>[] = [];
  if (options.basicConstraints !== false) {
    extensions.push(
      new x509.BasicConstraintsExtension(options.ca ?? defaults.ca, options.pathLength, true),
    );
  }
  const keyUsage = options.keyUsage ?? defaults.keyUsage;
  if (keyUsage !== false) extensions.push(new x509.KeyUsagesExtension(keyUsage, true));
  const eku = options.extendedKeyUsage ?? defaults.extendedKeyUsage;
  if (eku) extensions.push(new x509.ExtendedKeyUsageExtension(eku));
  return extensions;
}

/** cert-manager's self-signed root CA (a ClusterIssuer of kind SelfSigned issues it, isCA: true). */
export async function makeRoot(
  commonName: string,
  window: Window = {},
  rsa = true,
  options: ProfileOptions = {},
): Promise<Issued> {
  const keys = rsa ? await rsaKeys() : await ecKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: options.subject ?? `CN=${commonName}, O=cert-manager`,
    keys,
    notBefore: window.notBefore ?? new Date(NOW.getTime() - 30 * DAY),
    notAfter: window.notAfter ?? new Date(NOW.getTime() + 3650 * DAY),
    signingAlgorithm: rsa ? RSA : EC,
    extensions: [
      ...profileExtensions(options, { ca: true, keyUsage: CA_USAGE }),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(options.extraExtensions ?? []),
    ],
  });
  return wrap(cert, keys);
}

export interface IssueOptions extends Window, ProfileOptions {
  /** Sign with this key instead of the issuer's (a forged signature). */
  signingKey?: webcrypto.CryptoKey;
  uris?: string[];
}

const sanExtension = (uris: string[], critical = false): InstanceType<typeof x509.Extension>[] =>
  uris.length
    ? [
        new x509.SubjectAlternativeNameExtension(
          uris.map((value) => ({ type: 'url' as const, value })),
          critical,
        ),
      ]
    : [];

const signingAlgorithm = (issuer: Issued): typeof EC | typeof RSA =>
  issuer.keys.privateKey.algorithm.name === 'ECDSA' ? EC : RSA;

/** SPIRE server's intermediate CA, as cert-manager signs it through the UpstreamAuthority plugin. */
export async function makeIntermediate(
  trustDomain: string,
  issuer: Issued,
  options: IssueOptions = {},
): Promise<Issued> {
  const keys = await ecKeys();
  const signingKey = options.signingKey ?? issuer.keys.privateKey;
  const cert = await x509.X509CertificateGenerator.create({
    subject: options.subject ?? 'C=US, O=SPIFFE',
    issuer: issuer.cert.subject,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: signingKey.algorithm.name === 'ECDSA' ? EC : RSA,
    notBefore: options.notBefore ?? new Date(NOW.getTime() - DAY),
    notAfter: options.notAfter ?? new Date(NOW.getTime() + DAY),
    extensions: [
      ...profileExtensions(options, { ca: true, keyUsage: CA_USAGE }),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
      ...sanExtension(options.uris ?? [`spiffe://${trustDomain}`], options.sanCritical),
      ...(options.extraExtensions ?? []),
    ],
  });
  return wrap(cert, keys);
}

/** An X.509-SVID as SPIRE issues it: subject C=US, O=SPIRE, one SPIFFE URI SAN. */
export async function makeLeaf(
  spiffeId: string | undefined,
  issuer: Issued,
  options: IssueOptions = {},
): Promise<Issued> {
  const keys = await ecKeys();
  const signingKey = options.signingKey ?? issuer.keys.privateKey;
  const uris = options.uris ?? (spiffeId ? [spiffeId] : []);
  const cert = await x509.X509CertificateGenerator.create({
    subject: options.subject ?? 'C=US, O=SPIRE',
    issuer: issuer.cert.subject,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: signingAlgorithm(issuer),
    notBefore: options.notBefore ?? new Date(NOW.getTime() - 600_000),
    notAfter: options.notAfter ?? new Date(NOW.getTime() + 3_000_000),
    extensions: [
      ...profileExtensions(options, {
        ca: false,
        keyUsage:
          x509.KeyUsageFlags.digitalSignature |
          x509.KeyUsageFlags.keyEncipherment |
          x509.KeyUsageFlags.keyAgreement,
        extendedKeyUsage: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
      }),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
      ...sanExtension(uris, options.sanCritical),
      ...(options.extraExtensions ?? []),
    ],
  });
  return wrap(cert, keys);
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
export const pemOf = (...certs: Issued[]): string => certs.map((c) => c.pem.trim() + '\n').join('');

/**
 * `istioctl proxy-config secret <pod> -o json` with SPIRE as the SDS server:
 * protobuf JSON (camelCase, bytes as base64), the key redacted, ROOTCA as the
 * SPIFFE certificate validator with one trust bundle per trust domain, sorted.
 */
export function proxySecretJson(
  chain: Issued[],
  rootca: { bundles: Record<string, Issued[]> } | { trustedCa: Issued[] },
): string {
  const validationContext =
    'bundles' in rootca
      ? {
          customValidatorConfig: {
            name: 'envoy.tls.cert_validator.spiffe',
            typedConfig: {
              '@type':
                'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig',
              trustDomains: Object.keys(rootca.bundles)
                .sort()
                .map((name) => ({
                  name,
                  trustBundle: { inlineBytes: b64(pemOf(...(rootca.bundles[name] ?? []))) },
                })),
            },
          },
        }
      : { trustedCa: { inlineBytes: b64(pemOf(...rootca.trustedCa)) } };
  const dump = {
    dynamicActiveSecrets: [
      {
        name: 'default',
        versionInfo: '2026-11-28 11:50:00.123456789 +0000 UTC m=+3.1',
        lastUpdated: '2026-11-28T11:50:00.200Z',
        secret: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
          name: 'default',
          tlsCertificate: {
            certificateChain: { inlineBytes: b64(pemOf(...chain)) },
            privateKey: { inlineBytes: b64('[redacted]') },
          },
        },
      },
      {
        name: 'ROOTCA',
        versionInfo: '2026-11-28 11:50:00.1 +0000 UTC m=+3.0',
        lastUpdated: '2026-11-28T11:50:00.100Z',
        secret: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
          name: 'ROOTCA',
          validationContext,
        },
      },
    ],
  };
  return JSON.stringify(dump, null, 4);
}

/** The JWK SPIRE prints for an X.509 authority: the key's parameters plus the certificate in x5c. */
function x509Jwk(issued: Issued): Record<string, unknown> {
  const node = new NodeX509(issued.pem);
  const jwk = node.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const { kty, ...params } = jwk;
  return {
    use: 'x509-svid',
    kty,
    ...params,
    x5c: [Buffer.from(issued.cert.rawData).toString('base64')],
  };
}

/** `spire-server bundle show -format spiffe`: indented JWKS with sequence and refresh hint. */
export function bundleJwks(roots: Issued[], jwtKey = true, sequence = 3): string {
  const keys = roots.map(x509Jwk);
  if (jwtKey && roots[0]) {
    const { x5c: _x5c, use: _use, ...params } = x509Jwk(roots[0]);
    keys.push({ use: 'jwt-svid', kid: 'pFHcHFKvR6zqfSwkZqSmGMC9Y1eAcNyY', ...params });
  }
  return `${JSON.stringify({ keys, spiffe_sequence: sequence, spiffe_refresh_hint: 300 }, null, 4)}\n`;
}

const banner = (td: string): string =>
  `****************************************\n* ${td}\n****************************************\n`;

/** `spire-server bundle list -format spiffe`: each federated bundle under a banner, separated by a blank line. */
export const bundleList = (bundles: Record<string, string>): string =>
  Object.entries(bundles)
    .map(([td, body]) => banner(td) + body)
    .join('\n');
