// What a run of `all` on real nodes must show, whatever the profile: every phase passed, no check
// failed or was left unrun, and the proofs that need a real data plane are among them.
import assert from 'node:assert/strict';

interface Check {
  name: string;
  ok: boolean;
  status?: string;
}
interface Result {
  phases: { phase: string; ok: boolean; checks: Check[] }[];
}

const DATA_PLANE_PROOFS = [
  'east-west traffic',
  'north-south traffic',
  'certificate chain sleep/',
  'certificate chain bookinfo/productpage-',
  'federated bundle bar.com on foo.com',
  'federated bundle foo.com on bar.com',
  'DaemonSet spire/spire-agent',
];

export function assertWholeMeshProven(result: Result): void {
  assert.deepEqual(
    result.phases.map((p) => [p.phase, p.ok]),
    ['cert-manager', 'spire', 'istio', 'examples', 'verify'].map((p) => [p, true]),
  );
  const checks = result.phases.flatMap((p) => p.checks);
  assert.deepEqual(
    checks.filter((c) => c.status === 'not-run' || !c.ok),
    [],
  );
  for (const name of DATA_PLANE_PROOFS)
    assert.ok(
      checks.some((c) => c.name.startsWith(name) && c.ok),
      `no passed check "${name}"`,
    );
}
