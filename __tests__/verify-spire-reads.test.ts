// Issue 11: a run with nothing to change reads each SPIRE server's bundles once. identities
// (which trust domains a server holds bundles of) and federation (whether they are the peer's)
// take the same `bundle list`; only the entries are read again while identities waits.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/config/inputs.ts';
import { runVerify } from '../src/phases/verify.ts';
import type { RunContext } from '../src/phases/types.ts';
import type { ClusterConfig } from '../src/config/config.ts';
import type { ExecResult } from '../src/cluster/api.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';
import { bundleJwks, bundleList, makeRoot, type Issued } from './verify-fixtures.ts';

const roots: Record<string, Issued> = {};

before(async () => {
  for (const td of ['foo.com', 'bar.com']) roots[td] = await makeRoot(`${td} root`, {}, false);
});

/** A cluster whose SPIRE server answers from fixtures and counts what it was asked. */
class SpireServerFake extends FakeCluster {
  readonly asked: string[] = [];
  private readonly peer: string;
  constructor(cluster: ClusterConfig, peer: ClusterConfig) {
    super(cluster.context, 20_000, cluster);
    this.peer = peer.trustDomain;
  }
  override async exec(
    _namespace: string,
    _pod: string,
    _container: string,
    command: string[],
  ): Promise<ExecResult> {
    const asked = command.slice(1, 3).join(' ');
    this.asked.push(asked);
    const answers: Record<string, string> = {
      'bundle show': bundleJwks([roots[this.cluster.trustDomain]!]),
      'bundle list': bundleList({ [this.peer]: bundleJwks([roots[this.peer]!]) }),
      'entry show': 'Found 0 entries\n',
    };
    const stdout = answers[asked];
    return stdout === undefined
      ? { stdout: '', stderr: `unexpected ${asked}`, exitCode: 1 }
      : { stdout, stderr: '', exitCode: 0 };
  }
}

test('verify reads each server’s bundle list once for identities and federation', async () => {
  const config = parseInputs(
    (name) => ({ phase: 'plan', 'trust-domains': 'foo.com,bar.com' })[name] ?? '',
  );
  const [one, two] = config.clusters as [ClusterConfig, ClusterConfig];
  const clusters = [new SpireServerFake(one, two), new SpireServerFake(two, one)];
  const ctx = {
    config: { ...config, verifyChecks: ['identities', 'federation'] },
    clients: clusters.map((c) => c.asClient()),
  } as unknown as RunContext;
  const { checks } = await runVerify(ctx);
  const federation = checks.filter((c) => c.name.startsWith('federated bundle'));
  assert.equal(federation.length, 2);
  assert.ok(
    federation.every((c) => c.ok),
    federation.map((c) => c.reason).join('\n'),
  );
  for (const c of clusters)
    assert.deepEqual(
      c.asked.filter((a) => a.startsWith('bundle')).sort(),
      ['bundle list', 'bundle show'],
      c.asked.join(', '),
    );
});
