import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { analyzeChain, type ChainEvidence, type ChainReport } from '../src/verify/chain.ts';
import { parseProxySecrets } from '../src/verify/proxy-secret.ts';
import {
  NOW,
  makeIntermediate,
  makeLeaf,
  makeRoot,
  pemOf,
  proxySecretJson,
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
