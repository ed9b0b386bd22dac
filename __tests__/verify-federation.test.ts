import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import {
  analyzeFederation,
  BundleOutputError,
  federationMatrix,
  parseBundle,
  parseBundleList,
  type FederationServerEvidence,
} from '../src/analyze/federation.ts';
import { bundleJwks, bundleList, makeRoot, pemOf, type Issued } from './verify-fixtures.ts';

let fooRoot: Issued;
let barRoot: Issued;
let barOldRoot: Issued;
let bazRoot: Issued;

before(async () => {
  bazRoot = await makeRoot('baz.com root', {}, false);
  fooRoot = await makeRoot('foo.com root', {}, false);
  barRoot = await makeRoot('bar.com root', {}, false);
  barOldRoot = await makeRoot('bar.com root', {}, false);
});

const fp = (i: Issued): string => new X509Certificate(i.pem).fingerprint256;

function servers(
  fooHoldsOfBar: string | undefined,
  barHoldsOfFoo: string | undefined = bundleJwks([fooRoot]),
) {
  const foo: FederationServerEvidence = {
    cluster: 'cluster-1',
    trustDomain: 'foo.com',
    bundleShow: bundleJwks([fooRoot]),
    bundleList: fooHoldsOfBar === undefined ? '' : bundleList({ 'bar.com': fooHoldsOfBar }),
  };
  const bar: FederationServerEvidence = {
    cluster: 'cluster-2',
    trustDomain: 'bar.com',
    bundleShow: bundleJwks([barRoot]),
    bundleList: barHoldsOfFoo === undefined ? '' : bundleList({ 'foo.com': barHoldsOfFoo }),
  };
  return [foo, bar];
}

describe('parseBundle / parseBundleList', () => {
  it('reads the JWKS of bundle show -format spiffe', () => {
    const bundle = parseBundle(bundleJwks([fooRoot, barOldRoot], true, 7), 'spiffe://foo.com');
    assert.equal(bundle.trustDomain, 'foo.com');
    assert.deepEqual(
      bundle.roots.map((r) => r.fingerprint256),
      [fp(fooRoot), fp(barOldRoot)],
    );
    assert.equal(bundle.roots[0]?.subject, 'CN=foo.com root, O=cert-manager');
    assert.equal(bundle.jwtKeys, 1);
    assert.equal(bundle.sequence, 7);
    assert.equal(bundle.refreshHint, 300);
  });

  it('reads bundle list with banners, in both trust domain spellings and both formats', () => {
    const text =
      '****************************************\n* spiffe://bar.com\n****************************************\n' +
      bundleJwks([barRoot]) +
      '\n****************************************\n* baz.com\n****************************************\n' +
      pemOf(barOldRoot);
    const list = parseBundleList(text);
    assert.deepEqual([...list.keys()], ['bar.com', 'baz.com']);
    assert.equal(list.get('bar.com')?.roots[0]?.fingerprint256, fp(barRoot));
    assert.equal(list.get('baz.com')?.roots[0]?.fingerprint256, fp(barOldRoot));
  });

  it('reads an empty list as no federated bundles', () => {
    assert.equal(parseBundleList('').size, 0);
  });

  it('rejects what is not a bundle', () => {
    assert.throws(
      () => parseBundle('Error: rpc error: code = NotFound desc = bundle not found'),
      BundleOutputError,
    );
    assert.throws(() => parseBundle('{"keys":[{"use":"x509-svid","kty":"EC"}]}'), /without an x5c/);
    assert.throws(
      () => parseBundle('{"keys":[{"use":"x509-svid","x5c":["AAAA"]}]}'),
      /bad x5c certificate/,
    );
    assert.throws(
      () => parseBundleList('Error: connection refused\n'),
      /unexpected text before the first bundle/,
    );
  });
});

describe('analyzeFederation', () => {
  it('passes when each server holds the other bundle, equal to what its owner shows', () => {
    const checks = analyzeFederation(servers(bundleJwks([barRoot])));
    assert.deepEqual(
      checks.map((c) => [c.cluster, c.name, c.ok]),
      [
        ['cluster-1', 'own bundle foo.com', true],
        ['cluster-1', 'federated bundle bar.com on foo.com', true],
        ['cluster-2', 'own bundle bar.com', true],
        ['cluster-2', 'federated bundle foo.com on bar.com', true],
      ],
      JSON.stringify(checks, null, 2),
    );
    assert.equal(checks[1]?.reason, "holds bar.com's bundle, same 1 root(s) as its server");
  });

  it('fails a missing bundle', () => {
    const checks = analyzeFederation(servers(undefined));
    const c = checks.find((x) => x.name === 'federated bundle bar.com on foo.com');
    assert.equal(c?.ok, false);
    assert.equal(c?.reason, "missing bundle: foo.com's server holds no bundle for bar.com");
    assert.equal(checks.find((x) => x.name === 'federated bundle foo.com on bar.com')?.ok, true);
  });

  it('fails a stale bundle: bar.com rotated its root, foo.com still holds the old one', () => {
    const c = analyzeFederation(servers(bundleJwks([barOldRoot]))).find(
      (x) => x.name === 'federated bundle bar.com on foo.com',
    );
    assert.equal(c?.ok, false);
    assert.equal(
      c?.reason,
      "stale bundle for bar.com: lacks 1 root(s) that bar.com's server holds (CN=bar.com root, O=cert-manager)",
    );
    assert.deepEqual(
      (c?.details?.held as { fingerprint256: string }[]).map((r) => r.fingerprint256),
      [fp(barOldRoot)],
    );
  });

  it('fails a different bundle: foo.com holds a root bar.com no longer shows', () => {
    const c = analyzeFederation(servers(bundleJwks([barRoot, barOldRoot]))).find(
      (x) => x.name === 'federated bundle bar.com on foo.com',
    );
    assert.equal(c?.ok, false);
    assert.match(
      c?.reason ?? '',
      /^different bundle for bar\.com: holds 1 root\(s\) that bar\.com's server does not/,
    );
  });

  it("fails when a server's output cannot be read", () => {
    const [foo, bar] = servers(bundleJwks([barRoot]));
    const checks = analyzeFederation([
      {
        ...(foo as FederationServerEvidence),
        bundleList:
          'Error: connection error: desc = "transport: dial unix /tmp/spire-server/private/api.sock"',
      },
      { ...(bar as FederationServerEvidence), bundleShow: 'Error: rpc error' },
    ]);
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    assert.match(
      byName['federated bundle bar.com on foo.com']?.reason ?? '',
      /^cannot read bundle list output/,
    );
    assert.match(byName['own bundle bar.com']?.reason ?? '', /^cannot read bundle show output/);
    // bar.com's copy of foo.com is still comparable: foo.com's own bundle was readable.
    assert.equal(byName['federated bundle foo.com on bar.com']?.ok, true);
    assert.equal(checks.filter((c) => !c.ok).length, 2);
  });

  it("cannot vouch for a copy when the owner's bundle is unreadable", () => {
    const [foo, bar] = servers(bundleJwks([barRoot]));
    const checks = analyzeFederation([
      foo as FederationServerEvidence,
      { ...(bar as FederationServerEvidence), bundleShow: '' },
    ]);
    const c = checks.find((x) => x.name === 'federated bundle bar.com on foo.com');
    assert.equal(c?.ok, false);
    assert.match(c?.reason ?? '', /^cannot compare: bar\.com's own bundle is unreadable/);
  });

  it('fails an own bundle without X.509 roots', () => {
    const [foo, bar] = servers(bundleJwks([barRoot]));
    const checks = analyzeFederation([
      { ...(foo as FederationServerEvidence), bundleShow: '{"keys": [], "spiffe_sequence": 1}' },
      bar as FederationServerEvidence,
    ]);
    assert.equal(
      checks.find((c) => c.name === 'own bundle foo.com')?.reason,
      "foo.com's own bundle holds no X.509 root",
    );
  });
});

describe('federationMatrix', () => {
  it('shows every pair of three servers: who holds whose bundle and whether its roots are the same', () => {
    const roots: Record<string, Issued> = {
      'foo.com': fooRoot,
      'bar.com': barRoot,
      'baz.com': bazRoot,
    };
    const server = (td: string, cluster: string, held: Record<string, string>) => ({
      cluster,
      trustDomain: td,
      bundleShow: bundleJwks([roots[td] as Issued]),
      bundleList: bundleList(held),
    });
    const checks = analyzeFederation([
      // foo.com holds both peers; bar.com holds an old root of nothing, a stale baz.com
      // (another root) and lacks foo.com; baz.com holds both.
      server('foo.com', 'cluster-1', {
        'bar.com': bundleJwks([barRoot]),
        'baz.com': bundleJwks([bazRoot]),
      }),
      server('bar.com', 'cluster-2', { 'baz.com': bundleJwks([barOldRoot]) }),
      server('baz.com', 'cluster-3', {
        'foo.com': bundleJwks([fooRoot]),
        'bar.com': bundleJwks([barRoot]),
      }),
    ]);
    assert.equal(checks.length, 9, 'three own bundles and six pairs');
    const matrix = federationMatrix(['foo.com', 'bar.com', 'baz.com'], checks);
    assert.deepEqual(matrix.cells, [
      ['own', 'same', 'same'],
      ['missing', 'own', 'stale'],
      ['same', 'same', 'own'],
    ]);
    assert.equal(matrix.ok, false);
    const fixed = federationMatrix(
      ['foo.com', 'bar.com'],
      analyzeFederation(servers(bundleJwks([barRoot]))),
    );
    assert.deepEqual(fixed.cells, [
      ['own', 'same'],
      ['same', 'own'],
    ]);
    assert.equal(fixed.ok, true);
  });

  it('never shows a pair that was not judged as held', () => {
    const checks = analyzeFederation(servers(bundleJwks([barRoot])));
    const matrix = federationMatrix(['foo.com', 'bar.com', 'baz.com'], checks);
    assert.deepEqual(matrix.cells[2], ['unreadable', 'unreadable', 'unreadable']);
    assert.equal(matrix.ok, false);
  });
});
