import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  analyzeIdentities,
  awaitsRegistration,
  parseEntryShow,
  SpireOutputError,
  type IdentityEvidence,
  type MeshWorkload,
} from '../src/analyze/identities.ts';
import type { Check } from '../src/model/check.ts';

// `spire-server entry show` on SPIRE 1.5.1 with the k8s-workload-registrar in CRD
// mode (the seed's setup): one entry per pod, selected by pod UID, federating
// through the pod's spiffe.io/federatesWith annotation; plus the node entry.
const SPIRE_1_5_OUTPUT = `Found 3 entries
Entry ID         : 0f7aa1f1-3b47-4a27-9ad4-4a8f0d0f4f0e
SPIFFE ID        : spiffe://foo.com/k8s-workload-registrar/foo-cluster/node/gke-cluster-1-default-pool-18d66649-bu2x
Parent ID        : spiffe://foo.com/spire/server
Revision         : 0
X509-SVID TTL    : default
JWT-SVID TTL     : default
Selector         : k8s_psat:agent_node_uid:7a4c0a5b-61a8-4f0e-9a3e-2f1a0c6e5d11
Selector         : k8s_psat:cluster:foo-cluster

Entry ID         : 5d3c9b8e-1f0a-4e43-8c2b-8a0c4f0ce1d2
SPIFFE ID        : spiffe://foo.com/ns/helloworld/sa/default
Parent ID        : spiffe://foo.com/k8s-workload-registrar/foo-cluster/node/gke-cluster-1-default-pool-18d66649-bu2x
Revision         : 1
X509-SVID TTL    : default
JWT-SVID TTL     : default
Selector         : k8s:node-name:gke-cluster-1-default-pool-18d66649-bu2x
Selector         : k8s:ns:helloworld
Selector         : k8s:pod-uid:3f0b2c44-8e43-4f0e-b7f5-8f8a0e1d2c33
FederatesWith    : bar.com
DNS name         : helloworld-v1-6bb5b589d6-jq4gn

Entry ID         : 8b1e0f27-77c2-4a8a-bb1e-0b9f4fdc9a10
SPIFFE ID        : spiffe://foo.com/ns/sleep/sa/sleep
Parent ID        : spiffe://foo.com/k8s-workload-registrar/foo-cluster/node/gke-cluster-1-default-pool-18d66649-g4a2
Revision         : 0
X509-SVID TTL    : default
JWT-SVID TTL     : default
Selector         : k8s:node-name:gke-cluster-1-default-pool-18d66649-g4a2
Selector         : k8s:ns:sleep
Selector         : k8s:pod-uid:9d2a7c1e-5b6f-4c3d-8e9f-0a1b2c3d4e5f
FederatesWith    : bar.com

`;

// SPIRE 1.15 with spire-controller-manager (wider key column, hints).
const SPIRE_1_15_OUTPUT = `Found 1 entry
Entry ID                : 6f0c0a7e-5f41-4d8c-9f7b-0e2d7c1b9a33
SPIFFE ID               : spiffe://bar.com/ns/helloworld/sa/default
Parent ID               : spiffe://bar.com/spire/agent/k8s_psat/bar-cluster/4c1d1e2f-9a0b-4c5d-8e7f-6a5b4c3d2e1f
Revision                : 2
X509-SVID TTL           : default
JWT-SVID TTL            : default
Selector                : k8s:ns:helloworld
Selector                : k8s:pod-uid:c1e2d3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f
FederatesWith           : foo.com
DNS name                : helloworld-v2-7fd66fcfdc-6shtc
DNS name                : helloworld.helloworld.svc.cluster.local
Hint                    : sidecars

`;

const helloV1: MeshWorkload = {
  namespace: 'helloworld',
  serviceAccount: 'default',
  pod: 'helloworld-v1-6bb5b589d6-jq4gn',
  podUid: '3f0b2c44-8e43-4f0e-b7f5-8f8a0e1d2c33',
};
const sleep: MeshWorkload = {
  namespace: 'sleep',
  serviceAccount: 'sleep',
  pod: 'sleep-86bfc4d596-4jf87',
  podUid: '9d2a7c1e-5b6f-4c3d-8e9f-0a1b2c3d4e5f',
};

const evidence = (
  entries: string,
  workloads: MeshWorkload[] = [helloV1, sleep],
): IdentityEvidence => ({
  cluster: 'cluster-1',
  trustDomain: 'foo.com',
  meshTrustDomains: ['foo.com', 'bar.com'],
  workloads,
  entries,
});

describe('parseEntryShow', () => {
  it('reads SPIRE 1.5 pretty output', () => {
    const entries = parseEntryShow(SPIRE_1_5_OUTPUT);
    assert.equal(entries.length, 3);
    const hello = entries[1];
    assert.deepEqual(hello, {
      entryId: '5d3c9b8e-1f0a-4e43-8c2b-8a0c4f0ce1d2',
      spiffeId: 'spiffe://foo.com/ns/helloworld/sa/default',
      parentId:
        'spiffe://foo.com/k8s-workload-registrar/foo-cluster/node/gke-cluster-1-default-pool-18d66649-bu2x',
      revision: 1,
      x509SvidTtl: 'default',
      jwtSvidTtl: 'default',
      selectors: [
        'k8s:node-name:gke-cluster-1-default-pool-18d66649-bu2x',
        'k8s:ns:helloworld',
        'k8s:pod-uid:3f0b2c44-8e43-4f0e-b7f5-8f8a0e1d2c33',
      ],
      federatesWith: ['bar.com'],
      dnsNames: ['helloworld-v1-6bb5b589d6-jq4gn'],
      downstream: false,
      admin: false,
    });
  });

  it('reads the newer, wider layout with hints and several DNS names', () => {
    const [entry] = parseEntryShow(SPIRE_1_15_OUTPUT);
    assert.equal(entry?.spiffeId, 'spiffe://bar.com/ns/helloworld/sa/default');
    assert.deepEqual(entry?.federatesWith, ['foo.com']);
    assert.deepEqual(entry?.dnsNames, [
      'helloworld-v2-7fd66fcfdc-6shtc',
      'helloworld.helloworld.svc.cluster.local',
    ]);
    assert.equal(entry?.hint, 'sidecars');
  });

  it('normalizes FederatesWith printed as a SPIFFE ID', () => {
    const [entry] = parseEntryShow(
      SPIRE_1_15_OUTPUT.replace(
        'FederatesWith           : foo.com',
        'FederatesWith           : spiffe://foo.com',
      ),
    );
    assert.deepEqual(entry?.federatesWith, ['foo.com']);
  });

  it('reads the TTL line of servers before 1.5', () => {
    const old =
      'Found 1 entry\nEntry ID      : a\nSPIFFE ID     : spiffe://foo.com/ns/a/sa/b\nParent ID     : spiffe://foo.com/node\nRevision      : 0\nTTL           : 3600\nSelector      : k8s:ns:a\n\n';
    assert.equal(parseEntryShow(old)[0]?.x509SvidTtl, '3600');
  });

  it('reads `-output json`', () => {
    const json = JSON.stringify({
      entries: [
        {
          id: '6f0c0a7e',
          spiffe_id: { trust_domain: 'bar.com', path: '/ns/helloworld/sa/default' },
          parent_id: { trust_domain: 'bar.com', path: '/spire/agent/k8s_psat/bar-cluster/4c1d' },
          selectors: [
            { type: 'k8s', value: 'ns:helloworld' },
            { type: 'k8s', value: 'pod-uid:c1e2' },
          ],
          x509_svid_ttl: 0,
          federates_with: ['foo.com'],
          admin: false,
          created_at: '1764331200',
          downstream: false,
          expires_at: '0',
          dns_names: [],
          revision_number: '2',
          store_svid: false,
          jwt_svid_ttl: 0,
          hint: '',
        },
      ],
      next_page_token: '',
    });
    const [entry] = parseEntryShow(json);
    assert.equal(entry?.spiffeId, 'spiffe://bar.com/ns/helloworld/sa/default');
    assert.deepEqual(entry?.selectors, ['k8s:ns:helloworld', 'k8s:pod-uid:c1e2']);
    assert.equal(entry?.revision, 2);
    assert.equal(entry?.expiresAt, undefined);
  });

  it('accepts an empty server', () => {
    assert.deepEqual(parseEntryShow('Found 0 entries\n'), []);
  });

  it('rejects an error message and truncated output', () => {
    assert.throws(
      () => parseEntryShow('Error: rpc error: code = Unavailable desc = connection error\n'),
      SpireOutputError,
    );
    const cut = SPIRE_1_5_OUTPUT.slice(0, SPIRE_1_5_OUTPUT.indexOf('Entry ID         : 8b1e'));
    assert.throws(() => parseEntryShow(cut), /announces 3 entries but holds 2/);
    assert.throws(() => parseEntryShow(''), /not entry show output/);
  });
});

describe('analyzeIdentities', () => {
  it('passes when every workload has a federated entry in its own trust domain', () => {
    const checks = analyzeIdentities(evidence(SPIRE_1_5_OUTPUT));
    assert.deepEqual(
      checks.map((c) => [c.name, c.ok, c.reason]),
      [
        [
          'identity helloworld/helloworld-v1-6bb5b589d6-jq4gn',
          true,
          'spiffe://foo.com/ns/helloworld/sa/default, federates with bar.com',
        ],
        [
          'identity sleep/sleep-86bfc4d596-4jf87',
          true,
          'spiffe://foo.com/ns/sleep/sa/sleep, federates with bar.com',
        ],
      ],
    );
  });

  it('fails a workload without an entry', () => {
    const productpage: MeshWorkload = {
      namespace: 'bookinfo',
      serviceAccount: 'bookinfo-productpage',
    };
    const [c] = analyzeIdentities(evidence(SPIRE_1_5_OUTPUT, [productpage]));
    assert.equal(c?.ok, false);
    assert.equal(
      c?.reason,
      'no registration entry for spiffe://foo.com/ns/bookinfo/sa/bookinfo-productpage',
    );
  });

  it('fails an entry in the wrong trust domain', () => {
    // foo.com's server holding bar.com IDs: the registrar was given the other cluster's trust domain.
    const checks = analyzeIdentities({ ...evidence(SPIRE_1_15_OUTPUT), workloads: [helloV1] });
    assert.equal(checks[0]?.ok, false);
    assert.equal(
      checks[0]?.reason,
      'entry in the wrong trust domain: spiffe://bar.com/ns/helloworld/sa/default, expected spiffe://foo.com/ns/helloworld/sa/default',
    );
  });

  it('fails an entry without federatesWith', () => {
    const unfederated = SPIRE_1_5_OUTPUT.replace(
      'FederatesWith    : bar.com\nDNS name',
      'DNS name',
    );
    const [hello, sleepCheck] = analyzeIdentities(evidence(unfederated));
    assert.equal(hello?.ok, false);
    assert.equal(
      hello?.reason,
      'missing federatesWith bar.com on entry 5d3c9b8e-1f0a-4e43-8c2b-8a0c4f0ce1d2 for spiffe://foo.com/ns/helloworld/sa/default',
    );
    assert.equal(sleepCheck?.ok, true);
  });

  it('fails a pod that runs as another service account than the action deployed it with', () => {
    // The registrar gives any service account an entry, so only the deployed one can tell.
    const intruder = SPIRE_1_5_OUTPUT.replace(
      '/ns/helloworld/sa/default',
      '/ns/helloworld/sa/intruder',
    );
    const [hello] = analyzeIdentities(
      evidence(intruder, [
        {
          ...helloV1,
          serviceAccount: 'intruder',
          deployedServiceAccount: 'default',
          owner: 'Deployment helloworld-v1',
        },
      ]),
    );
    assert.equal(hello?.ok, false);
    assert.equal(
      hello?.reason,
      'runs as service account intruder, not default as the action deployed Deployment helloworld-v1: its identity is spiffe://foo.com/ns/helloworld/sa/intruder, not spiffe://foo.com/ns/helloworld/sa/default',
    );
    const [same] = analyzeIdentities(
      evidence(SPIRE_1_5_OUTPUT, [{ ...helloV1, deployedServiceAccount: 'default' }]),
    );
    assert.equal(same?.ok, true);
  });

  it('fails when the entry selects another pod (a stale pod UID)', () => {
    const [c] = analyzeIdentities(
      evidence(SPIRE_1_5_OUTPUT, [{ ...helloV1, podUid: '00000000-0000-0000-0000-000000000000' }]),
    );
    assert.equal(c?.ok, false);
    assert.match(
      c?.reason ?? '',
      /exist but none selects helloworld\/helloworld-v1-6bb5b589d6-jq4gn/,
    );
  });

  it('requires federation with every other domain of a three-domain mesh', () => {
    const [c] = analyzeIdentities({
      ...evidence(SPIRE_1_5_OUTPUT, [helloV1]),
      meshTrustDomains: ['foo.com', 'bar.com', 'baz.com'],
    });
    assert.match(c?.reason ?? '', /^missing federatesWith baz\.com /);
  });

  it('tells a pod registration has not reached yet from a wrong identity', () => {
    const [missing] = analyzeIdentities(
      evidence(SPIRE_1_5_OUTPUT, [
        { namespace: 'bookinfo', serviceAccount: 'bookinfo-productpage' },
      ]),
    );
    const [otherPod] = analyzeIdentities(
      evidence(SPIRE_1_5_OUTPUT, [{ ...helloV1, podUid: '00000000-0000-0000-0000-000000000000' }]),
    );
    assert.equal(awaitsRegistration(missing as Check), true);
    assert.equal(awaitsRegistration(otherPod as Check), true);
    const intruder = SPIRE_1_5_OUTPUT.replace(
      '/ns/helloworld/sa/default',
      '/ns/helloworld/sa/intruder',
    );
    const [wrongAccount] = analyzeIdentities(
      evidence(intruder, [
        { ...helloV1, serviceAccount: 'intruder', deployedServiceAccount: 'default' },
      ]),
    );
    const [unfederated] = analyzeIdentities(
      evidence(SPIRE_1_5_OUTPUT.replace('FederatesWith    : bar.com\nDNS name', 'DNS name')),
    );
    const [good] = analyzeIdentities(evidence(SPIRE_1_5_OUTPUT));
    for (const c of [wrongAccount, unfederated, good])
      assert.equal(awaitsRegistration(c as Check), false, c?.reason);
  });

  it('names the missing federated bundle as why a pod has no entry, and does not wait for it', () => {
    const productpage: MeshWorkload = {
      namespace: 'bookinfo',
      serviceAccount: 'bookinfo-productpage',
    };
    const [c] = analyzeIdentities({
      ...evidence(SPIRE_1_5_OUTPUT, [productpage]),
      federatedBundles: [],
    });
    assert.equal(
      c?.reason,
      'no registration entry for spiffe://foo.com/ns/bookinfo/sa/bookinfo-productpage: this server holds no bundle for bar.com, and SPIRE refuses entries that federate with a trust domain it has no bundle of (the spire phase puts the bundles back)',
    );
    assert.equal(awaitsRegistration(c as Check), false);
    const [held] = analyzeIdentities({
      ...evidence(SPIRE_1_5_OUTPUT, [productpage]),
      federatedBundles: ['spiffe://bar.com'],
    });
    assert.equal(
      held?.reason,
      'no registration entry for spiffe://foo.com/ns/bookinfo/sa/bookinfo-productpage',
    );
    assert.equal(awaitsRegistration(held as Check), true);
  });

  it('fails every workload when the output cannot be read', () => {
    const checks = analyzeIdentities(evidence('Error: connection refused'));
    assert.equal(checks.length, 2);
    assert.ok(
      checks.every(
        (c) => !c.ok && c.reason.startsWith('cannot read spire-server entry show output'),
      ),
    );
  });
});
