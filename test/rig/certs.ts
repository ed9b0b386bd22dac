// Certificates for the rig, made in-process with @peculiar/x509 (ECDSA P-256, PKCS#8 keys).
// Kubernetes components, kwok and Node's TLS stack all read these PEM forms.

import { webcrypto, randomBytes } from 'node:crypto';

// @peculiar/x509 resolves its services through tsyringe, which needs the
// Reflect metadata API loaded before it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

const { subtle } = webcrypto;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface CertPem {
  cert: string;
  key: string;
}

export interface CertRequest {
  commonName: string;
  /** Subject O; Kubernetes reads it as the client's groups (system:masters = admin). */
  organization?: string;
  dnsNames?: string[];
  ips?: string[];
  usage: 'server' | 'client';
  days?: number;
}

function pem(tag: string, der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, tag);
}

function subject(commonName: string, organization?: string): string {
  return organization ? `CN=${commonName}, O=${organization}` : `CN=${commonName}`;
}

function serial(): string {
  // Positive and non-zero: the top bit clear keeps the DER integer unsigned.
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(KEY_ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privatePem(key: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await subtle.exportKey('pkcs8', key));
}

export async function createCa(commonName: string, days = 3650): Promise<CertPem> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subject(commonName),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * DAY_MS),
    signingAlgorithm: SIGN_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign |
          x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await privatePem(keys.privateKey) };
}

async function importCa(ca: CertPem): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  const cert = new x509.X509Certificate(ca.cert);
  const der = x509.PemConverter.decodeFirst(ca.key);
  const key = await subtle.importKey('pkcs8', der, KEY_ALG, false, ['sign']);
  return { cert, key };
}

export async function issueCert(ca: CertPem, req: CertRequest): Promise<CertPem> {
  const issuer = await importCa(ca);
  const keys = await newKeys();
  const now = Date.now();
  const names: x509.JsonGeneralName[] = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(
      [
        req.usage === 'server'
          ? x509.ExtendedKeyUsage.serverAuth
          : x509.ExtendedKeyUsage.clientAuth,
      ],
      false,
    ),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.cert, false),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: subject(req.commonName, req.organization),
    issuer: issuer.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (req.days ?? 3650) * DAY_MS),
    signingAlgorithm: SIGN_ALG,
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    extensions,
  });
  return { cert: cert.toString('pem'), key: await privatePem(keys.privateKey) };
}

/** A bare key pair, e.g. for signing service-account tokens. */
export async function createKeyPair(): Promise<{ privateKey: string; publicKey: string }> {
  const keys = await newKeys();
  return {
    privateKey: await privatePem(keys.privateKey),
    publicKey: pem('PUBLIC KEY', await subtle.exportKey('spki', keys.publicKey)),
  };
}
