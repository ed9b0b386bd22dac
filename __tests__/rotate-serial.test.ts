// rotate's "istiod picked it up" check (issue 7, item 9): istiod prints the CA
// serial as `SN: %x` of the number, without the leading zeros that Node's
// X509Certificate.serialNumber keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logNamesSerial } from '../src/analyze/rotation.ts';

// Zero-padded, as X509Certificate.serialNumber gives it.
const SERIAL = '0B5F3A1C7D2E4F60718293A4B5C6D7E8';
const istiodLine = (sn: string): string =>
  `2026-12-02T10:00:00.000000Z\tinfo\tx509 cert - Issuer: "O=cert-manager,CN=mesh-root-ca", Subject: "", SN: ${sn}, NotBefore: "2026-12-02T10:00:00Z", NotAfter: "2027-01-01T10:00:00Z"`;

test('a serial logged without its leading zero is found', () => {
  assert.ok(logNamesSerial(istiodLine('b5f3a1c7d2e4f60718293a4b5c6d7e8'), SERIAL));
});

test('upper or lower case, colon-separated or decimal forms are the same serial', () => {
  assert.ok(logNamesSerial(istiodLine('B5F3A1C7D2E4F60718293A4B5C6D7E8'), SERIAL));
  assert.ok(
    logNamesSerial('serial number: 0b:5f:3a:1c:7d:2e:4f:60:71:82:93:a4:b5:c6:d7:e8', SERIAL),
  );
  assert.ok(logNamesSerial(`loaded CA with serial ${BigInt(`0x${SERIAL}`).toString(10)}`, SERIAL));
});

test('another serial, or a longer one that merely contains it, is not a match', () => {
  assert.ok(!logNamesSerial(istiodLine('c5f3a1c7d2e4f60718293a4b5c6d7e8'), SERIAL));
  assert.ok(!logNamesSerial(istiodLine('b5f3a1c7d2e4f60718293a4b5c6d7e81'), SERIAL));
  assert.ok(!logNamesSerial('', SERIAL));
});
