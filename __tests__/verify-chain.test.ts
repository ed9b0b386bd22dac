import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { analyzeChain, type ChainEvidence } from '../src/analyze/chain.ts';
import type { ChainReport } from '../src/model/evidence.ts';
import { parseProxySecrets } from '../src/analyze/proxy-secret.ts';
import {
  NOW,
  makeIntermediate,
  makeLeaf,
  makeRoot,
  pemOf,
  proxySecretJson,
  x509,
  type Issued,
} from './verify-fixtures.ts';

const LEAF_ID = 'spiffe://foo.com/ns/bookinfo/sa/bookinfo-productpage';
const expected = {
  trustDomain: 'foo.com',
  namespace: 'bookinfo',
  serviceAccount: 'bookinfo-productpage',
};

let fooRoot: Issued;
let barRoot: Issued;
let intermediate: Issued;
let leaf: Issued;

before(async () => {
  fooRoot = await makeRoot('foo.com root');
  barRoot = await makeRoot('bar.com root', {}, false);
  intermediate = await makeIntermediate('foo.com', fooRoot);
  leaf = await makeLeaf(LEAF_ID, intermediate);
});

function evidence(proxySecret: string, overrides: Partial<ChainEvidence> = {}): ChainEvidence {
  return {
    cluster: 'cluster-1',
    workload: 'bookinfo/productpage-v1-f8c54768c-r8b5t',
    proxySecret,
    expected,
    certManagerCaPem: fooRoot.pem,
    meshTrustDomains: ['foo.com', 'bar.com'],
    now: NOW,
    ...overrides,
  };
}

const federated = (): { bundles: Record<string, Issued[]> } => ({
  bundles: { 'foo.com': [fooRoot], 'bar.com': [barRoot] },
});

function check(report: ChainReport, prefix: string) {
  const found = report.checks.find((c) => c.name.startsWith(prefix));
  assert.ok(found, `no check named ${prefix}*`);
  return found;
}

describe('analyzeChain: a good SVID', () => {
  it('passes every check and describes each certificate', () => {
    const report = analyzeChain(evidence(proxySecretJson([leaf, intermediate], federated())));
    assert.deepEqual(
      report.checks.map((c) => [c.name, c.ok]),
      [
        ['SPIFFE ID bookinfo/productpage-v1-f8c54768c-r8b5t', true],
        ['certificate chain bookinfo/productpage-v1-f8c54768c-r8b5t', true],
        ['trust bundles bookinfo/productpage-v1-f8c54768c-r8b5t', true],
        ['certificate validity bookinfo/productpage-v1-f8c54768c-r8b5t', true],
      ],
      JSON.stringify(report.checks, null, 2),
    );
    assert.equal(report.ok, true);
    assert.equal(check(report, 'SPIFFE ID').reason, LEAF_ID);
    assert.deepEqual(
      report.rows.map((r) => [r.role, r.source, r.trustDomain, r.keyType]),
      [
        ['leaf', 'chain', 'foo.com', 'EC P-256'],
        ['intermediate', 'chain', 'foo.com', 'EC P-256'],
        ['root', 'bundle', 'foo.com', 'RSA 2048'],
        ['root', 'bundle', 'bar.com', 'EC P-256'],
      ],
    );
    const [leafRow, , rootRow] = report.rows;
    assert.equal(leafRow?.spiffeId, LEAF_ID);
    assert.equal(leafRow?.subject, 'C=US, O=SPIRE');
    assert.equal(rootRow?.subject, 'CN=foo.com root, O=cert-manager');
    assert.equal(rootRow?.sha256, new X509Certificate(fooRoot.pem).fingerprint256);
    assert.match(rootRow?.sha256 ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(leafRow?.notAfter, leaf.cert.notAfter.toISOString());
  });

  it('accepts the root sent inside the chain', () => {
    const report = analyzeChain(
      evidence(proxySecretJson([leaf, intermediate, fooRoot], federated())),
    );
    assert.equal(report.ok, true, JSON.stringify(report.checks, null, 2));
    assert.deepEqual(
      report.rows.slice(0, 3).map((r) => [r.role, r.source]),
      [
        ['leaf', 'chain'],
        ['intermediate', 'chain'],
        ['root', 'chain'],
      ],
    );
  });

  it('reads the snake_case Envoy admin config_dump as well', () => {
    const camel = JSON.parse(proxySecretJson([leaf, intermediate], federated())) as object;
    const snake = JSON.stringify(camel).replace(
      /"([a-z]+[A-Z][A-Za-z]*)":/g,
      (_m, key: string) => `"${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}":`,
    );
    const wrapped = JSON.stringify({
      configs: [
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
          ...(JSON.parse(snake) as object),
        },
      ],
    });
    assert.match(wrapped, /dynamic_active_secrets/);
    assert.equal(analyzeChain(evidence(wrapped)).ok, true);
  });

  it('accepts a flat trustedCa bundle when every domain root can be attributed', () => {
    const flat = proxySecretJson([leaf, intermediate], { trustedCa: [fooRoot, barRoot] });
    const report = analyzeChain(
      evidence(flat, { meshRootsPem: { 'foo.com': fooRoot.pem, 'bar.com': barRoot.pem } }),
    );
    assert.equal(report.ok, true, JSON.stringify(report.checks, null, 2));
  });
});

describe('analyzeChain: every broken shape fails with its own reason', () => {
  it('wrong trust domain', async () => {
    const bad = await makeLeaf(
      'spiffe://bar.com/ns/bookinfo/sa/bookinfo-productpage',
      intermediate,
    );
    const report = analyzeChain(evidence(proxySecretJson([bad, intermediate], federated())));
    const c = check(report, 'SPIFFE ID');
    assert.equal(c.ok, false);
    assert.match(
      c.reason,
      /^wrong trust domain: leaf is spiffe:\/\/bar\.com\/ns\/bookinfo\/sa\/bookinfo-productpage/,
    );
    assert.equal(check(report, 'certificate chain').ok, true);
    assert.equal(report.ok, false);
  });

  it('wrong service account', async () => {
    const bad = await makeLeaf('spiffe://foo.com/ns/bookinfo/sa/default', intermediate);
    const c = check(
      analyzeChain(evidence(proxySecretJson([bad, intermediate], federated()))),
      'SPIFFE ID',
    );
    assert.equal(c.ok, false);
    assert.match(
      c.reason,
      /^wrong service account: .*expected spiffe:\/\/foo\.com\/ns\/bookinfo\/sa\/bookinfo-productpage$/,
    );
  });

  it('wrong namespace', async () => {
    const bad = await makeLeaf('spiffe://foo.com/ns/default/sa/bookinfo-productpage', intermediate);
    const c = check(
      analyzeChain(evidence(proxySecretJson([bad, intermediate], federated()))),
      'SPIFFE ID',
    );
    assert.match(c.reason, /^wrong namespace: /);
  });

  it('no SPIFFE URI SAN at all', async () => {
    const bad = await makeLeaf(undefined, intermediate, { uris: ['https://productpage.bookinfo'] });
    const c = check(
      analyzeChain(evidence(proxySecretJson([bad, intermediate], federated()))),
      'SPIFFE ID',
    );
    assert.match(c.reason, /^leaf has no SPIFFE URI SAN/);
  });

  it('leaf not signed by the intermediate', async () => {
    const other = await makeIntermediate('foo.com', fooRoot);
    const bad = await makeLeaf(LEAF_ID, other);
    const report = analyzeChain(evidence(proxySecretJson([bad, intermediate], federated())));
    const c = check(report, 'certificate chain');
    assert.equal(c.ok, false);
    assert.equal(
      c.reason,
      `leaf not signed by the intermediate "C=US, O=SPIFFE": its authority key identifier does not match that certificate's key`,
    );
    assert.equal(check(report, 'SPIFFE ID').ok, true);
  });

  it('leaf signature forged under the intermediate name and key id', async () => {
    const stranger = await makeIntermediate('foo.com', fooRoot);
    const forged = await makeLeaf(LEAF_ID, intermediate, { signingKey: stranger.keys.privateKey });
    const c = check(
      analyzeChain(evidence(proxySecretJson([forged, intermediate], federated()))),
      'certificate chain',
    );
    assert.match(c.reason, /^leaf not signed by the intermediate .*signature does not verify/);
  });

  it('intermediate not signed by the root', async () => {
    const impostor = await makeRoot('foo.com root');
    const badIntermediate = await makeIntermediate('foo.com', fooRoot, {
      signingKey: impostor.keys.privateKey,
    });
    const badLeaf = await makeLeaf(LEAF_ID, badIntermediate);
    const c = check(
      analyzeChain(evidence(proxySecretJson([badLeaf, badIntermediate], federated()))),
      'certificate chain',
    );
    assert.equal(c.ok, false);
    assert.match(c.reason, /^intermediate not signed by the root: neither foo\.com's trust bundle/);
  });

  it('root is not the cert-manager one', async () => {
    const otherRoot = await makeRoot('spire self-signed root');
    const otherIntermediate = await makeIntermediate('foo.com', otherRoot);
    const otherLeaf = await makeLeaf(LEAF_ID, otherIntermediate);
    const secrets = proxySecretJson([otherLeaf, otherIntermediate], {
      bundles: { 'foo.com': [otherRoot], 'bar.com': [barRoot] },
    });
    const c = check(analyzeChain(evidence(secrets)), 'certificate chain');
    assert.equal(c.ok, false);
    assert.match(
      c.reason,
      /^root is not the cert-manager CA: chain ends at "CN=spire self-signed root, O=cert-manager"/,
    );
  });

  it('cert-manager root missing from the own trust bundle', () => {
    const secrets = proxySecretJson([leaf, intermediate], {
      bundles: { 'foo.com': [barRoot], 'bar.com': [barRoot] },
    });
    const c = check(analyzeChain(evidence(secrets)), 'certificate chain');
    assert.match(c.reason, /^root missing from foo\.com's trust bundle/);
  });

  it('intermediate that is not a CA', async () => {
    const notCa = await makeIntermediate('foo.com', fooRoot, { ca: false });
    const badLeaf = await makeLeaf(LEAF_ID, notCa);
    const c = check(
      analyzeChain(evidence(proxySecretJson([badLeaf, notCa], federated()))),
      'certificate chain',
    );
    assert.equal(c.ok, false);
    assert.equal(c.reason, 'intermediate "C=US, O=SPIFFE" is not a CA certificate');
  });

  it('chain without the intermediate', () => {
    const c = check(
      analyzeChain(evidence(proxySecretJson([leaf], federated()))),
      'certificate chain',
    );
    assert.match(c.reason, /^chain holds only the leaf/);
  });

  it('an expired leaf', async () => {
    const old = await makeLeaf(LEAF_ID, intermediate, {
      notBefore: new Date(NOW.getTime() - 7_200_000),
      notAfter: new Date(NOW.getTime() - 3_600_000),
    });
    const report = analyzeChain(evidence(proxySecretJson([old, intermediate], federated())));
    const c = check(report, 'certificate validity');
    assert.equal(c.ok, false);
    assert.match(c.reason, /^leaf "C=US, O=SPIRE" expired at 2026-11-28T11:00:00\.000Z$/);
    assert.equal(check(report, 'certificate chain').ok, true);
  });

  it('an expired intermediate', async () => {
    const oldIntermediate = await makeIntermediate('foo.com', fooRoot, {
      notBefore: new Date(NOW.getTime() - 3 * 86_400_000),
      notAfter: new Date(NOW.getTime() - 86_400_000),
    });
    const oldLeaf = await makeLeaf(LEAF_ID, oldIntermediate);
    const c = check(
      analyzeChain(evidence(proxySecretJson([oldLeaf, oldIntermediate], federated()))),
      'certificate validity',
    );
    assert.match(c.reason, /^intermediate "C=US, O=SPIFFE" expired at /);
  });

  it('a certificate not yet valid', async () => {
    const future = await makeLeaf(LEAF_ID, intermediate, {
      notBefore: new Date(NOW.getTime() + 3_600_000),
      notAfter: new Date(NOW.getTime() + 7_200_000),
    });
    const c = check(
      analyzeChain(evidence(proxySecretJson([future, intermediate], federated()))),
      'certificate validity',
    );
    assert.match(c.reason, /^leaf "C=US, O=SPIRE" not yet valid/);
  });

  it('a federated bundle whose only root expired', async () => {
    const expiredBar = await makeRoot('bar.com root', {
      notBefore: new Date(NOW.getTime() - 10 * 86_400_000),
      notAfter: new Date(NOW.getTime() - 86_400_000),
    });
    const secrets = proxySecretJson([leaf, intermediate], {
      bundles: { 'foo.com': [fooRoot], 'bar.com': [expiredBar] },
    });
    const c = check(analyzeChain(evidence(secrets)), 'certificate validity');
    assert.match(c.reason, /^bar\.com's trust bundle holds no currently valid root/);
  });

  it('a missing federated bundle', () => {
    const secrets = proxySecretJson([leaf, intermediate], { bundles: { 'foo.com': [fooRoot] } });
    const report = analyzeChain(evidence(secrets));
    const c = check(report, 'trust bundles');
    assert.equal(c.ok, false);
    assert.equal(c.reason, 'ROOTCA trust bundles lack bar.com');
    assert.equal(check(report, 'certificate chain').ok, true);
    assert.equal(report.ok, false);
  });

  it("a federated bundle that holds the wrong domain's root", () => {
    const secrets = proxySecretJson([leaf, intermediate], {
      bundles: { 'foo.com': [fooRoot], 'bar.com': [fooRoot] },
    });
    const c = check(
      analyzeChain(
        evidence(secrets, { meshRootsPem: { 'foo.com': fooRoot.pem, 'bar.com': barRoot.pem } }),
      ),
      'trust bundles',
    );
    assert.match(c.reason, /^bar\.com's trust bundle does not hold bar\.com's cert-manager CA$/);
  });

  it('a flat trustedCa list that cannot be attributed to bar.com', () => {
    const flat = proxySecretJson([leaf, intermediate], { trustedCa: [fooRoot] });
    const report = analyzeChain(evidence(flat));
    assert.equal(check(report, 'certificate chain').ok, true);
    assert.match(check(report, 'trust bundles').reason, /cannot confirm it holds bar\.com/);
  });

  it('no SVID issued: the default secret is absent', () => {
    const dump = JSON.parse(proxySecretJson([leaf, intermediate], federated())) as {
      dynamicActiveSecrets: { name: string }[];
    };
    dump.dynamicActiveSecrets = dump.dynamicActiveSecrets.filter((s) => s.name !== 'default');
    const report = analyzeChain(evidence(JSON.stringify(dump)));
    assert.match(
      check(report, 'SPIFFE ID').reason,
      /^no "default" certificate in the proxy's secrets \(ROOTCA\)/,
    );
    assert.equal(check(report, 'trust bundles').ok, true);
    assert.equal(report.rows.filter((r) => r.source === 'chain').length, 0);
    assert.equal(report.ok, false);
  });

  it('a pod without an istio-proxy container fails every check at once, saying so', () => {
    const report = analyzeChain({ ...evidence('{}'), proxySecret: null });
    assert.equal(report.checks.length, 4);
    assert.ok(
      report.checks.every(
        (c) => !c.ok && /has no istio-proxy container: the pod is outside the mesh/.test(c.reason),
      ),
    );
  });

  it('output that is not the proxy-config JSON', () => {
    const report = analyzeChain(evidence('Error: failed to get config dump: pod not found'));
    assert.equal(report.checks.length, 4);
    assert.ok(
      report.checks.every(
        (c) => !c.ok && c.reason.startsWith('cannot read istioctl proxy-config secret output'),
      ),
    );
  });

  it('a cert-manager CA PEM that holds no certificate', () => {
    const c = check(
      analyzeChain(
        evidence(proxySecretJson([leaf, intermediate], federated()), { certManagerCaPem: '' }),
      ),
      'certificate chain',
    );
    assert.match(c.reason, /^cannot read the cert-manager CA certificate/);
  });
});

const KU = x509.KeyUsageFlags;

/** The chain check's reason for `[leaf, ...rest]` against the usual foo.com root and bundles. */
async function chainReason(chain: Issued[], overrides: Partial<ChainEvidence> = {}) {
  const report = analyzeChain(evidence(proxySecretJson(chain, federated()), overrides));
  return check(report, 'certificate chain');
}

describe('analyzeChain: X.509-SVID leaf rules', () => {
  it('a leaf with a second, non-SPIFFE URI SAN (issue 7 item 16)', async () => {
    const bad = await makeLeaf(undefined, intermediate, {
      uris: [LEAF_ID, 'https://productpage.bookinfo'],
    });
    const report = analyzeChain(evidence(proxySecretJson([bad, intermediate], federated())));
    const c = check(report, 'SPIFFE ID');
    assert.equal(c.ok, false);
    assert.equal(
      c.reason,
      `leaf has 2 URI SANs (${LEAF_ID}, https://productpage.bookinfo); an X.509-SVID carries exactly one`,
    );
    assert.equal(check(report, 'certificate chain').ok, true);
    assert.equal(report.ok, false);
  });

  it('an empty-subject SVID with a critical SAN passes (issue 7 item 17)', async () => {
    const anonymous = await makeLeaf(LEAF_ID, intermediate, { subject: '', sanCritical: true });
    assert.equal(new X509Certificate(anonymous.pem).subject, undefined);
    const report = analyzeChain(evidence(proxySecretJson([anonymous, intermediate], federated())));
    assert.equal(report.ok, true, JSON.stringify(report.checks, null, 2));
    assert.equal(check(report, 'SPIFFE ID').reason, LEAF_ID);
    assert.deepEqual(
      report.rows.map((r) => [r.role, r.subject]),
      [
        ['leaf', ''],
        ['intermediate', 'C=US, O=SPIFFE'],
        ['root', 'CN=foo.com root, O=cert-manager'],
        ['root', 'CN=bar.com root, O=cert-manager'],
      ],
    );
    assert.equal(report.rows[0]?.spiffeId, LEAF_ID);
  });

  it('an empty-subject SVID whose SAN is not critical', async () => {
    const anonymous = await makeLeaf(LEAF_ID, intermediate, { subject: '' });
    const c = await chainReason([anonymous, intermediate]);
    assert.equal(c.ok, false);
    assert.match(
      c.reason,
      /^leaf has an empty subject but a non-critical subjectAltName; RFC 5280 §4\.1\.2\.6 requires it critical$/,
    );
  });

  it('no certificate makes the analyzer throw, wherever it sits', async () => {
    const anonymous = await makeLeaf(LEAF_ID, intermediate, { subject: '', sanCritical: true });
    const garbledKu = await makeLeaf(LEAF_ID, intermediate, {
      keyUsage: false,
      extraExtensions: [new x509.Extension('2.5.29.15', true, new Uint8Array([0x30, 0x05, 1]))],
    });
    const anonymousBar = await makeRoot('bar.com root', {}, false, { subject: '' });
    const anonymousCa = await makeRoot('', {}, true, { subject: '' });
    const shapes: [string, string, Partial<ChainEvidence>][] = [
      ['empty-subject leaf', proxySecretJson([anonymous, intermediate], federated()), {}],
      ['garbled keyUsage', proxySecretJson([garbledKu, intermediate], federated()), {}],
      [
        'empty-subject federated root',
        proxySecretJson([leaf, intermediate], {
          bundles: { 'foo.com': [fooRoot], 'bar.com': [anonymousBar] },
        }),
        {},
      ],
      [
        'empty-subject certificate after the intermediate',
        proxySecretJson([leaf, intermediate, anonymousCa], federated()),
        {},
      ],
      [
        'empty-subject cert-manager CA',
        proxySecretJson([leaf, intermediate], {
          bundles: { 'foo.com': [anonymousCa], 'bar.com': [barRoot] },
        }),
        { certManagerCaPem: anonymousCa.pem },
      ],
      [
        'flat bundle of empty-subject roots',
        proxySecretJson([anonymous, intermediate], { trustedCa: [anonymousCa, anonymousBar] }),
        { meshRootsPem: { 'foo.com': fooRoot.pem, 'bar.com': anonymousBar.pem } },
      ],
    ];
    for (const [label, secrets, overrides] of shapes) {
      let report: ChainReport | undefined;
      assert.doesNotThrow(() => (report = analyzeChain(evidence(secrets, overrides))), label);
      assert.equal(report?.checks.length, 4, label);
      for (const c of report?.checks ?? []) assert.ok(c.reason.length > 0, `${label}: ${c.name}`);
    }
    const garbled = analyzeChain(evidence(shapes[1]?.[1] ?? ''));
    assert.match(
      check(garbled, 'certificate chain').reason,
      /^cannot read the leaf's extensions: cannot decode extension 2\.5\.29\.15: truncated DER/,
    );
  });

  it('a leaf without basicConstraints', async () => {
    const bad = await makeLeaf(LEAF_ID, intermediate, { basicConstraints: false });
    const c = await chainReason([bad, intermediate]);
    assert.equal(c.ok, false);
    assert.equal(
      c.reason,
      'leaf has no basicConstraints extension; an X.509-SVID leaf must set CA:FALSE',
    );
  });

  it('a leaf without keyUsage', async () => {
    const bad = await makeLeaf(LEAF_ID, intermediate, { keyUsage: false });
    const c = await chainReason([bad, intermediate]);
    assert.equal(
      c.reason,
      'leaf has no keyUsage extension; an X.509-SVID leaf must set digitalSignature',
    );
  });

  it('a leaf whose keyUsage lacks digitalSignature', async () => {
    const bad = await makeLeaf(LEAF_ID, intermediate, {
      keyUsage: KU.keyEncipherment | KU.keyAgreement,
    });
    const c = await chainReason([bad, intermediate]);
    assert.equal(
      c.reason,
      'leaf keyUsage lacks digitalSignature, which an X.509-SVID leaf must set',
    );
  });

  it('a leaf whose keyUsage sets keyCertSign or cRLSign', async () => {
    for (const [flag, name] of [
      [KU.keyCertSign, 'keyCertSign'],
      [KU.cRLSign, 'cRLSign'],
    ] as const) {
      const bad = await makeLeaf(LEAF_ID, intermediate, { keyUsage: KU.digitalSignature | flag });
      const c = await chainReason([bad, intermediate]);
      assert.equal(c.ok, false, name);
      assert.equal(c.reason, `leaf keyUsage sets ${name}, which an X.509-SVID leaf must not`);
    }
  });

  it('a leaf whose extendedKeyUsage lacks clientAuth', async () => {
    const bad = await makeLeaf(LEAF_ID, intermediate, {
      extendedKeyUsage: [x509.ExtendedKeyUsage.serverAuth],
    });
    const c = await chainReason([bad, intermediate]);
    assert.equal(
      c.reason,
      'leaf extendedKeyUsage lacks clientAuth; an X.509-SVID that has the extension must set serverAuth and clientAuth',
    );
  });

  it('a leaf with a critical extension nothing can process', async () => {
    const bad = await makeLeaf(LEAF_ID, intermediate, {
      extraExtensions: [new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([5, 0]))],
    });
    const c = await chainReason([bad, intermediate]);
    assert.equal(
      c.reason,
      'leaf carries unrecognized critical extension 1.3.6.1.4.1.99999.1 (RFC 5280 §4.2)',
    );
  });

  const invalidIds: [string, RegExp][] = [
    [
      'SPIFFE://foo.com/ns/bookinfo/sa/bookinfo-productpage',
      /its scheme "SPIFFE" must be lowercase "spiffe"$/,
    ],
    [
      'spiffe://FOO.com/ns/bookinfo/sa/bookinfo-productpage',
      /its trust domain "FOO\.com" is not lowercase$/,
    ],
    [`${LEAF_ID}?rev=2`, /it has a query component$/],
    [`${LEAF_ID}#frag`, /it has a fragment component$/],
    ['spiffe://foo.com:8443/ns/bookinfo/sa/bookinfo-productpage', /its authority has a port$/],
    [
      'spiffe://admin@foo.com/ns/bookinfo/sa/bookinfo-productpage',
      /its authority has a userinfo part$/,
    ],
    ['spiffe://foo.com//ns/bookinfo/sa/bookinfo-productpage', /its path has an empty segment/],
    [`${LEAF_ID}/`, /its path has an empty segment/],
    ['spiffe://foo.com/ns/./bookinfo/sa/bookinfo-productpage', /its path has a "\." segment$/],
    [
      'spiffe://foo.com/ns/bookinfo/sa/../sa/bookinfo-productpage',
      /its path has a "\.\." segment$/,
    ],
    [
      'spiffe://foo.com/ns/bookinfo/sa/bookinfo%2Dproductpage',
      /it holds percent-encoded characters$/,
    ],
    ['spiffe://foo.com/ns/bookinfo/sa/bookinfo+productpage', /outside \[a-zA-Z0-9\._-\]$/],
  ];
  for (const [uri, why] of invalidIds) {
    it(`a leaf URI SAN that is not a valid SPIFFE ID: ${uri}`, async () => {
      const bad = await makeLeaf(uri, intermediate);
      const c = check(
        analyzeChain(evidence(proxySecretJson([bad, intermediate], federated()))),
        'SPIFFE ID',
      );
      assert.equal(c.ok, false);
      assert.ok(c.reason.startsWith(`leaf URI SAN ${uri} is not a valid SPIFFE ID: `), c.reason);
      assert.match(c.reason, why);
    });
  }

  it('a leaf SPIFFE ID without a path', async () => {
    const bad = await makeLeaf('spiffe://foo.com', intermediate);
    const c = check(
      analyzeChain(evidence(proxySecretJson([bad, intermediate], federated()))),
      'SPIFFE ID',
    );
    assert.equal(
      c.reason,
      "leaf SPIFFE ID spiffe://foo.com has no path; a leaf's SPIFFE ID must name a workload",
    );
  });
});

describe('analyzeChain: X.509-SVID signing certificate rules', () => {
  it('a CA:FALSE certificate without keyCertSign signs the leaf (issue 7 item 18)', async () => {
    const notCa = await makeIntermediate('foo.com', fooRoot, {
      ca: false,
      keyUsage: KU.digitalSignature,
    });
    const badLeaf = await makeLeaf(LEAF_ID, notCa);
    const c = await chainReason([badLeaf, notCa]);
    assert.equal(c.ok, false);
    assert.equal(c.reason, 'intermediate "C=US, O=SPIFFE" is not a CA certificate');
    assert.deepEqual(c.details?.notCa, {
      certificate: 'intermediate "C=US, O=SPIFFE"',
      basicConstraints: 'CA:FALSE',
      signed: 'leaf',
    });
  });

  it('a certificate without basicConstraints signs the leaf', async () => {
    const notCa = await makeIntermediate('foo.com', fooRoot, {
      basicConstraints: false,
      keyUsage: KU.digitalSignature,
    });
    const badLeaf = await makeLeaf(LEAF_ID, notCa);
    const c = await chainReason([badLeaf, notCa]);
    assert.equal(c.reason, 'intermediate "C=US, O=SPIFFE" is not a CA certificate');
    assert.equal((c.details?.notCa as { basicConstraints: string }).basicConstraints, 'absent');
  });

  it('a cert-manager "root" that is not a CA signs the intermediate', async () => {
    const notCaRoot = await makeRoot('foo.com root', {}, true, {
      ca: false,
      keyUsage: KU.digitalSignature,
    });
    const badIntermediate = await makeIntermediate('foo.com', notCaRoot);
    const badLeaf = await makeLeaf(LEAF_ID, badIntermediate);
    const report = analyzeChain(
      evidence(
        proxySecretJson([badLeaf, badIntermediate], {
          bundles: { 'foo.com': [notCaRoot], 'bar.com': [barRoot] },
        }),
        { certManagerCaPem: notCaRoot.pem },
      ),
    );
    const c = check(report, 'certificate chain');
    assert.equal(c.reason, 'root "CN=foo.com root, O=cert-manager" is not a CA certificate');
    assert.deepEqual(c.details?.notCa, {
      certificate: 'root "CN=foo.com root, O=cert-manager"',
      basicConstraints: 'CA:FALSE',
      signed: 'intermediate "C=US, O=SPIFFE"',
    });
  });

  it('an intermediate whose keyUsage lacks keyCertSign', async () => {
    const bad = await makeIntermediate('foo.com', fooRoot, {
      keyUsage: KU.digitalSignature | KU.cRLSign,
    });
    const badLeaf = await makeLeaf(LEAF_ID, bad);
    const c = await chainReason([badLeaf, bad]);
    assert.equal(
      c.reason,
      'intermediate "C=US, O=SPIFFE" may not sign certificates: its keyUsage lacks keyCertSign',
    );
  });

  it('an intermediate without keyUsage', async () => {
    const bad = await makeIntermediate('foo.com', fooRoot, { keyUsage: false });
    const badLeaf = await makeLeaf(LEAF_ID, bad);
    const c = await chainReason([badLeaf, bad]);
    assert.equal(
      c.reason,
      'intermediate "C=US, O=SPIFFE" may not sign certificates: it has no keyUsage extension, so no keyCertSign',
    );
  });

  it('an intermediate whose SPIFFE ID has a path', async () => {
    const bad = await makeIntermediate('foo.com', fooRoot, {
      uris: ['spiffe://foo.com/spire/server'],
    });
    const badLeaf = await makeLeaf(LEAF_ID, bad);
    const c = await chainReason([badLeaf, bad]);
    assert.equal(
      c.reason,
      'intermediate "C=US, O=SPIFFE" SPIFFE ID spiffe://foo.com/spire/server has a path; a signing certificate\'s SPIFFE ID names only its trust domain',
    );
  });

  it('an intermediate whose URI SAN is not a SPIFFE ID', async () => {
    const bad = await makeIntermediate('foo.com', fooRoot, { uris: ['https://spire.foo.com'] });
    const badLeaf = await makeLeaf(LEAF_ID, bad);
    const c = await chainReason([badLeaf, bad]);
    assert.equal(
      c.reason,
      'intermediate "C=US, O=SPIFFE" URI SAN https://spire.foo.com is not a valid SPIFFE ID: its scheme is "https", not "spiffe"',
    );
  });

  it('a root whose pathLenConstraint 0 leaves no room for the SPIRE intermediate', async () => {
    const tight = await makeRoot('foo.com root', {}, true, { pathLength: 0 });
    const under = await makeIntermediate('foo.com', tight);
    const underLeaf = await makeLeaf(LEAF_ID, under);
    const c = await chainReason([underLeaf, under], {
      certManagerCaPem: tight.pem,
      proxySecret: proxySecretJson([underLeaf, under], {
        bundles: { 'foo.com': [tight], 'bar.com': [barRoot] },
      }),
    });
    assert.equal(
      c.reason,
      'root "CN=foo.com root, O=cert-manager" has pathLenConstraint 0 but 1 intermediate CA certificate(s) below it',
    );
  });

  it('an intermediate whose pathLenConstraint forbids the CA below it', async () => {
    const build = async (pathLength: number) => {
      const upper = await makeIntermediate('foo.com', fooRoot, {
        pathLength,
        subject: 'C=US, O=SPIFFE, CN=upper',
      });
      const lower = await makeIntermediate('foo.com', upper);
      return [await makeLeaf(LEAF_ID, lower), lower, upper];
    };
    const allowed = await chainReason(await build(1));
    assert.equal(allowed.ok, true, allowed.reason);
    const c = await chainReason(await build(0));
    assert.equal(
      c.reason,
      'intermediate "C=US, O=SPIFFE, CN=upper" has pathLenConstraint 0 but 1 intermediate CA certificate(s) below it',
    );
  });
});

describe('analyzeChain: validity of a flat trustedCa list', () => {
  it('a flat trustedCa list whose only bar.com root expired', async () => {
    const expiredBar = await makeRoot('bar.com root', {
      notBefore: new Date(NOW.getTime() - 10 * 86_400_000),
      notAfter: new Date(NOW.getTime() - 86_400_000),
    });
    const flat = proxySecretJson([leaf, intermediate], { trustedCa: [fooRoot, expiredBar] });
    const c = check(
      analyzeChain(
        evidence(flat, { meshRootsPem: { 'foo.com': fooRoot.pem, 'bar.com': expiredBar.pem } }),
      ),
      'certificate validity',
    );
    assert.equal(c.ok, false);
    assert.match(c.reason, /^bar\.com's trust bundle holds no currently valid root/);
  });
});

describe('parseProxySecrets', () => {
  it('decodes the chain and the per-domain bundles', () => {
    const parsed = parseProxySecrets(proxySecretJson([leaf, intermediate], federated()));
    assert.deepEqual(parsed.secretNames, ['default', 'ROOTCA']);
    assert.equal(parsed.chainPem, pemOf(leaf, intermediate));
    assert.deepEqual([...(parsed.trustDomainBundles?.keys() ?? [])], ['bar.com', 'foo.com']);
    assert.equal(parsed.trustDomainBundles?.get('bar.com'), pemOf(barRoot));
    assert.equal(parsed.trustedCaPem, undefined);
  });
});
