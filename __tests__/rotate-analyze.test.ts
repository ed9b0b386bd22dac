// The rotate verdicts from real certificates: a new serial in cacerts passes
// `rotation`, and only an istiod log naming that serial passes `istiod-pickup`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { analyzeRotation } from '../src/analyze/rotation.ts';
import { makeRoot } from './verify-fixtures.ts';

const b64 = (pem: string): string => Buffer.from(pem).toString('base64');

test('rotation passes on a new serial that istiod logged, and fails on the old certificate or a silent istiod', async () => {
  const [before, after] = [await makeRoot('old', {}, false), await makeRoot('new', {}, false)];
  const serial = new X509Certificate(after.pem).serialNumber;
  const logged = `info\tx509 cert - Issuer: "CN=new", SN: ${serial.replace(/^0+/, '').toLowerCase()}`;
  const good = analyzeRotation({
    cluster: 'cluster-1',
    oldCertificate: b64(before.pem),
    newCertificate: b64(after.pem),
    istiodLogs: ['starting', logged],
  });
  assert.deepEqual(
    good.checks.map((c) => [c.name, c.ok]),
    [
      ['rotation', true],
      ['istiod-pickup', true],
    ],
  );
  assert.equal(good.newSerial, serial);

  const same = analyzeRotation({
    cluster: 'cluster-1',
    oldCertificate: b64(after.pem),
    newCertificate: b64(after.pem),
    istiodLogs: [logged],
  });
  assert.match(same.checks[0]?.reason ?? '', /still holds the old certificate/);
  assert.equal(same.checks[0]?.ok, false);

  const silent = analyzeRotation({
    cluster: 'cluster-1',
    oldCertificate: b64(before.pem),
    newCertificate: b64(after.pem),
    istiodLogs: ['SN: 1234'],
  });
  assert.equal(silent.checks[1]?.ok, false);
  assert.match(silent.checks[1]?.reason ?? '', /AUTO_RELOAD_PLUGIN_CERTS/);
});
