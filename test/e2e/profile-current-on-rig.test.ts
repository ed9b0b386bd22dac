// The built action with `profile: current` on a rig of its own (instance 5) whose SPIRE
// servers are SPIRE 1.15.3 and whose SPIRE Controller Manager 0.7.0 runs from the ConfigMap
// the action applied (MESH_RIG_PROFILE=current): `all` federates the servers through
// ClusterFederatedTrustDomains and registers workloads through a ClusterSPIFFEID, verify
// reads entries and bundles as in the seed's mode, a second `all` writes nothing, and
// `cleanup` leaves nothing labelled. Istio and cert-manager run at the versions the rig
// built (the summary names them as overrides of the profile's pins).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CURRENT_PROFILE_RIG, startIsolatedRig, type IsolatedRig } from '../rig/isolated-rig.ts';
import { rigActionInputs, rigBinaries } from '../rig/local-inputs.ts';
import { countWrites } from '../rig/fault-proxy.ts';
import { apiserverUrl } from '../rig/layout.ts';
import { explain, runAction } from '../../__tests__/helpers/run-action.ts';
import { kubectlList, labelledObjects, spireServerExec } from './labelled.ts';
import { PROFILE_TABLE } from '../../src/config/profiles.ts';

const run = promisify(execFile);
let rig: IsolatedRig;
let kubectl = '';

interface Result {
  ok: boolean;
  profile: string;
  versions: Record<string, { version: string; pin: string }>;
  phases: {
    phase: string;
    clusters: { cluster: string; created: number; changed: number; unchanged: number }[];
    checks: { name: string; cluster: string; ok: boolean; status: string; reason: string }[];
  }[];
}
const resultOf = (r: { outputs: Record<string, string> }) =>
  JSON.parse(r.outputs.result ?? '{}') as Result;

const spire = async (context: string, args: string[]) =>
  (
    await run(kubectl, [
      '--kubeconfig',
      rig.kubeconfigFile,
      '--context',
      context,
      ...spireServerExec(args),
    ])
  ).stdout;

before(async () => {
  kubectl = rigBinaries().kubectl;
  rig = await startIsolatedRig(CURRENT_PROFILE_RIG);
});

after(() => rig?.stop());

test('profile current: all federates SPIRE 1.15 servers through the SPIRE Controller Manager and verify passes', async () => {
  const r = await runAction(rig.inputs('all'));
  assert.equal(r.code, 0, explain(r));
  const result = resultOf(r);
  assert.equal(result.ok, true);
  assert.equal(result.profile, 'current');
  const pins = PROFILE_TABLE.current.pins;
  assert.deepEqual(result.versions.spire, { version: '1.15.3', pin: pins.spire });
  assert.deepEqual(result.versions.spireControllerManager, {
    version: '0.7.0',
    pin: pins.spireControllerManager,
  });
  // What the rig could build instead of the pins, said as such.
  assert.notEqual(result.versions.istio?.version, pins.istio);
  assert.match(
    r.summary,
    /Profile `current` \(workloads registered by the spire-controller-manager\)/,
  );
  assert.match(
    r.summary,
    new RegExp(
      `Istio \\*\\*${result.versions.istio?.version}\\*\\* \\(instead of the pin ${pins.istio}\\)`,
    ),
  );

  const verify = result.phases.find((p) => p.phase === 'verify');
  const ran = verify?.checks.filter((c) => c.status !== 'not-run') ?? [];
  assert.ok(
    ran.length > 0 && ran.every((c) => c.ok),
    ran.map((c) => `${c.name}: ${c.reason}`).join('\n'),
  );
  const names = ran.map((c) => c.name);
  for (const c of rig.layout.clusters)
    for (const o of rig.layout.clusters.filter((x) => x !== c))
      assert.ok(
        names.includes(`federated bundle ${o.trustDomain} on ${c.trustDomain}`),
        names.join(', '),
      );

  for (const c of rig.layout.clusters) {
    // The relationships are the controller manager's, from the CRs the action applied.
    const domains = await kubectlList(kubectl, rig.kubeconfigFile, c.name, [
      'get',
      'clusterfederatedtrustdomains',
    ]);
    const peers = rig.layout.clusters.filter((x) => x !== c).map((x) => x.trustDomain);
    assert.deepEqual(
      domains.map((d) => (d as unknown as { spec: { trustDomain: string } }).spec.trustDomain),
      peers,
      c.name,
    );
    const relationships = await spire(c.name, ['federation', 'list']);
    for (const peer of peers)
      assert.match(relationships, new RegExp(`Trust domain\\s*: ${peer}`), c.name);
    // Entries exist for the mesh's workloads, federated with every peer.
    const entries = await spire(c.name, [
      'entry',
      'show',
      '-spiffeID',
      `spiffe://${c.trustDomain}/ns/sleep/sa/sleep`,
    ]);
    assert.match(entries, /Found [1-9]\d* entr/, `${c.name}: ${entries}`);
    for (const peer of peers)
      assert.match(entries, new RegExp(`FederatesWith\\s*: (spiffe://)?${peer}`), c.name);
    // Written by the controller manager (no registrar runs in this profile).
    assert.match(entries, /Parent ID\s*: spiffe:\/\/[^/]+\/spire\/agent\/k8s_psat\//, c.name);
  }
});

test('profile current: a second all changes nothing and sends no write', async () => {
  // Through counting proxies; the remote secrets still name the API servers themselves.
  const {
    result: r,
    writes,
    lockSeenEverywhere,
  } = await countWrites(rig.layout, rig.direct, (k) =>
    runAction({
      ...rigActionInputs('all', k, rig.contexts, rig.artifacts),
      'api-servers': rig.layout.clusters.map(apiserverUrl).join(','),
    }),
  );
  assert.equal(r.code, 0, explain(r));
  for (const phase of resultOf(r).phases)
    for (const c of phase.clusters)
      assert.deepEqual(
        [c.created, c.changed],
        [0, 0],
        `${phase.phase} on ${c.cluster}: ${c.created} created, ${c.changed} changed`,
      );
  assert.deepEqual(writes, [], `writes sent by a no-op all:\n${writes.join('\n')}`);
  assert.ok(
    lockSeenEverywhere,
    'the run lock was taken through the proxy, so the run did go through it',
  );
});

test('profile current: cleanup leaves nothing labelled, the SPIRE CRDs included', async () => {
  const r = await runAction(rig.inputs('cleanup'));
  assert.equal(r.code, 0, explain(r));
  for (const context of rig.contexts) {
    assert.deepEqual(
      (await labelledObjects(kubectl, rig.kubeconfigFile, context)).map(
        (o) => `${o.kind}/${o.metadata.name}`,
      ),
      [],
      context,
    );
    const crds = await kubectlList(kubectl, rig.kubeconfigFile, context, ['get', 'crd']);
    assert.deepEqual(
      crds.map((c) => c.metadata.name).filter((n) => n.endsWith('.spire.spiffe.io')),
      [],
      context,
    );
  }
});
