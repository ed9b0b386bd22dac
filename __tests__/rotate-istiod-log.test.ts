// Issue 7, item 9: rotate's "istiod picked it up" check, against istiod's real
// log format. istiod (pilot/pkg/bootstrap/certcontroller.go, loadIstiodCert)
// logs every certificate of its reloaded chain with
//   log.Infof("x509 cert - Issuer: %q, Subject: %q, SN: %x, NotBefore: %q, NotAfter: %q", ...)
// and Go's %x of a *big.Int has no leading zeros, while Node's
// X509Certificate.serialNumber is whole bytes of upper-case hex.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import { x509 } from './verify-fixtures.ts';
import { logNamesSerial, serialNumbersIn } from '../src/analyze/rotation.ts';

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A real CA certificate with the given serial, read back the way rotate reads `cacerts`. */
async function caWithSerial(serialNumber: string): Promise<X509Certificate> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber,
    name: 'CN=istiod.istio-system.svc',
    notBefore: new Date('2026-12-02T10:00:00Z'),
    notAfter: new Date('2027-01-01T10:00:00Z'),
    keys,
    signingAlgorithm: EC,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return new X509Certificate(cert.toString('pem'));
}

/** The line istiod prints for one certificate: Go's `%x` of the serial. */
const x509Line = (time: string, issuer: string, subject: string, serial: bigint): string =>
  `${time}\tinfo\tx509 cert - Issuer: "${issuer}", Subject: "${subject}", SN: ${serial.toString(16)}, NotBefore: "2026-12-02T09:58:00Z", NotAfter: "2027-01-01T10:00:00Z"`;

/** istiod's log after AUTO_RELOAD_PLUGIN_CERTS picked up a re-issued cacerts. */
function reloadLog(caSerial: bigint): string {
  return [
    '2026-12-02T10:00:05.101127Z\tinfo\tUpdate Istiod cacerts',
    '2026-12-02T10:00:05.101301Z\tinfo\tUsing kubernetes.io/tls secret type for signing ca files',
    '2026-12-02T10:00:05.187642Z\tinfo\tIstiod has detected the newly added intermediate CA and updated its key and certs accordingly',
    x509Line(
      '2026-12-02T10:00:05.188410Z',
      'CN=istiod.istio-system.svc',
      '',
      0x5e1f9c2d4b7a3e60d1c2b3a4f5e6d7c8n,
    ),
    x509Line(
      '2026-12-02T10:00:05.188503Z',
      'CN=mesh-root-ca,O=cert-manager',
      'CN=istiod.istio-system.svc',
      caSerial,
    ),
    '2026-12-02T10:00:05.188598Z\tinfo\tIstiod certificates are reloaded',
    '2026-12-02T10:00:05.188701Z\tinfo\tspiffe\tAdded 1 certs to trust domain foo.com in peer cert verifier',
  ].join('\n');
}

test('a CA serial starting with a zero nibble is found although istiod drops the zero', async () => {
  const ca = await caWithSerial('0b5f3a1c7d2e4f60718293a4b5c6d7e8');
  assert.equal(ca.serialNumber, '0B5F3A1C7D2E4F60718293A4B5C6D7E8', 'Node keeps the zero');
  const log = reloadLog(BigInt(`0x${ca.serialNumber}`));
  assert.match(log, /SN: b5f3a1c7d2e4f60718293a4b5c6d7e8,/, 'Go prints it without');
  assert.ok(logNamesSerial(log, ca.serialNumber));
});

test('a serial whose DER form needs a leading zero byte is found', async () => {
  // The high bit is set, so DER encodes 00 8f …; neither Node nor istiod prints that byte.
  const ca = await caWithSerial('008f5f3a1c7d2e4f60718293a4b5c6d7e8');
  assert.ok(logNamesSerial(reloadLog(BigInt(`0x${ca.serialNumber}`)), ca.serialNumber));
});

test('the serial tokens of a reload are the chain istiod logged, as numbers', () => {
  assert.deepEqual(serialNumbersIn(reloadLog(0x0b5fn)), [
    0x5e1f9c2d4b7a3e60d1c2b3a4f5e6d7c8n,
    0x0b5fn,
  ]);
});

test('the old CA, or a number elsewhere in the log, is not the new serial', async () => {
  const oldCa = await caWithSerial('6a11f0e2d3c4b5a697887766554433ab');
  const log = reloadLog(BigInt(`0x${oldCa.serialNumber}`));
  assert.ok(!logNamesSerial(log, '0B5F3A1C7D2E4F60718293A4B5C6D7E8'));
  // A CA made with `-set_serial 1` is serial 1: "Added 1 certs" does not name it.
  assert.ok(!logNamesSerial(log, '01'));
  // Nor does a DN attribute that happens to be called serialNumber.
  assert.ok(!logNamesSerial('x509 cert - Issuer: "SERIALNUMBER=2,CN=ca", Subject: ""', '02'));
});

test('other spellings of a serial: colon-separated hex, 0x, decimal after a label', () => {
  const serial = '0B5F3A1C7D2E4F60718293A4B5C6D7E8';
  const value = BigInt(`0x${serial}`);
  assert.ok(logNamesSerial('serial=0B5F3A1C7D2E4F60718293A4B5C6D7E8', serial));
  assert.ok(
    logNamesSerial('Serial Number: 0b:5f:3a:1c:7d:2e:4f:60:71:82:93:a4:b5:c6:d7:e8', serial),
  );
  assert.ok(logNamesSerial(`loaded CA, serial number 0x${value.toString(16)}`, serial));
  assert.ok(logNamesSerial(`loaded CA with serial ${value.toString(10)}`, serial));
  assert.ok(logNamesSerial('Serial Number: 7 (0x7)', '07'));
});
