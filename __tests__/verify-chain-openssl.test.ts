// The chain analyzer against chains the openssl CLI makes, as the issue 7
// battery did: its encodings (extension order, an empty subject as `-subj /`,
// a root without keyUsage) differ from @peculiar/x509's, and the analyzer must
// judge both the same way.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { analyzeChain } from '../src/analyze/chain.ts';
import type { ChainReport } from '../src/model/evidence.ts';

const LEAF_ID = 'spiffe://foo.com/ns/bookinfo/sa/bookinfo-productpage';

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let dir = '';
let serial = 1000;

const openssl = (args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
};

/** `openssl x509 -req` over a fresh P-256 key: the certificate's PEM. */
function issue(name: string, subject: string, ext: string, ca: string): string {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  openssl([
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-set_serial',
    String(serial++),
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`,
  ]);
  return fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8');
}

const INTERMEDIATE_EXT = [
  'basicConstraints=critical,CA:TRUE',
  'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
  'subjectAltName=URI:spiffe://foo.com',
  '',
].join('\n');

const leafExt = (san: string, basicConstraints = 'critical,CA:FALSE'): string =>
  [
    `basicConstraints=${basicConstraints}`,
    'keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement',
    'extendedKeyUsage=serverAuth,clientAuth',
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid',
    `subjectAltName=${san}`,
    '',
  ].join('\n');

let rootPem = '';
let intermediatePem = '';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** `istioctl proxy-config secret -o json` holding `chain`, with foo.com's bundle = the openssl root. */
function proxySecret(chain: string[]): string {
  const secret = (name: string, body: object) => ({ name, secret: { name, ...body } });
  return JSON.stringify({
    dynamicActiveSecrets: [
      secret('default', {
        tlsCertificate: { certificateChain: { inlineBytes: b64(chain.join('')) } },
      }),
      secret('ROOTCA', {
        validationContext: {
          customValidatorConfig: {
            name: 'envoy.tls.cert_validator.spiffe',
            typedConfig: {
              trustDomains: [{ name: 'foo.com', trustBundle: { inlineBytes: b64(rootPem) } }],
            },
          },
        },
      }),
    ],
  });
}

function analyze(chain: string[]): ChainReport {
  return analyzeChain({
    cluster: 'cluster-1',
    workload: 'bookinfo/productpage',
    proxySecret: proxySecret(chain),
    expected: {
      trustDomain: 'foo.com',
      namespace: 'bookinfo',
      serviceAccount: 'bookinfo-productpage',
    },
    certManagerCaPem: rootPem,
    meshTrustDomains: ['foo.com'],
    now: new Date(),
  });
}

const check = (report: ChainReport, prefix: string) => {
  const found = report.checks.find((c) => c.name.startsWith(prefix));
  assert.ok(found, `no check named ${prefix}*`);
  return found;
};

describe(
  'analyzeChain on openssl-made chains',
  { skip: !hasOpenssl && 'openssl not installed' },
  () => {
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-chain-openssl-'));
      // `openssl req -x509` with only CA:TRUE: no keyUsage, as a hand-made root often is.
      fs.writeFileSync(
        path.join(dir, 'root.cnf'),
        '[req]\ndistinguished_name=dn\nx509_extensions=v3\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nsubjectKeyIdentifier=hash\n',
      );
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'root.key']);
      openssl([
        'req',
        '-x509',
        '-new',
        '-config',
        'root.cnf',
        '-key',
        'root.key',
        '-subj',
        '/O=cert-manager/CN=foo.com root',
        '-days',
        '30',
        '-out',
        'root.pem',
      ]);
      rootPem = fs.readFileSync(path.join(dir, 'root.pem'), 'utf8');
      intermediatePem = issue('intermediate', '/C=US/O=SPIFFE', INTERMEDIATE_EXT, 'root');
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('item 17: an empty-subject SVID with a critical SAN passes, as the usual one does', () => {
      const usual = issue(
        'usual',
        '/C=US/O=SPIRE',
        leafExt(`critical,URI:${LEAF_ID}`),
        'intermediate',
      );
      const usualReport = analyze([usual, intermediatePem]);
      assert.equal(usualReport.ok, true, JSON.stringify(usualReport.checks, null, 2));
      const anonymous = issue('anonymous', '/', leafExt(`critical,URI:${LEAF_ID}`), 'intermediate');
      let report: ChainReport | undefined;
      assert.doesNotThrow(() => (report = analyze([anonymous, intermediatePem])));
      assert.equal(report?.ok, true, JSON.stringify(report?.checks, null, 2));
      assert.equal(report?.rows[0]?.subject, '');
    });

    it('item 16: a second, non-SPIFFE URI SAN fails the SPIFFE ID check', () => {
      const two = issue(
        'two-uris',
        '/C=US/O=SPIRE',
        leafExt(`URI:${LEAF_ID},URI:https://productpage.bookinfo`),
        'intermediate',
      );
      const c = check(analyze([two, intermediatePem]), 'SPIFFE ID');
      assert.equal(c.ok, false);
      assert.match(c.reason, /^leaf has 2 URI SANs \(.*\); an X\.509-SVID carries exactly one$/);
    });

    it('item 18: a non-CA signer is reported as not a CA, not as a key-identifier mismatch', () => {
      for (const [name, basicConstraints, shown] of [
        ['ca-false', 'basicConstraints=critical,CA:FALSE\n', 'CA:FALSE'],
        ['no-bc', '', 'absent'],
      ] as const) {
        const notCa = issue(
          name,
          '/C=US/O=SPIFFE',
          `${basicConstraints}keyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n`,
          'intermediate',
        );
        const leaf = issue(`${name}-leaf`, '/C=US/O=SPIRE', leafExt(`URI:${LEAF_ID}`), name);
        const c = check(analyze([leaf, notCa, intermediatePem]), 'certificate chain');
        assert.equal(c.ok, false, name);
        assert.equal(c.reason, 'intermediate "C=US, O=SPIFFE" is not a CA certificate', name);
        assert.deepEqual(
          c.details?.notCa,
          { certificate: 'intermediate "C=US, O=SPIFFE"', basicConstraints: shown, signed: 'leaf' },
          name,
        );
      }
    });
  },
);
