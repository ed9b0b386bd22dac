// `bundle set` is judged by reading the bundle back (issue 7, item 3). On
// Kubernetes 1.29 an exec with stdin ends without an exit status while the
// command may still be running, so an unknown status means "look again", and
// only what the server holds decides. The exchange runs here against two
// emulated spire-server CLIs holding real JWKS bundles of real certificates.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExecResult } from '../src/cluster/api.ts';
import { parseInputs } from '../src/config/inputs.ts';
import { exchangeBundles } from '../src/phases/spire.ts';
import { holdsBundle } from '../src/analyze/bundle-set.ts';
import { bundleSetVerdict } from '../src/analyze/bundle-set.ts';
import type { RunContext } from '../src/phases/types.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';
import { bundleJwks, makeRoot, type Issued } from './verify-fixtures.ts';

let fooRoot: Issued;
let barRoot: Issued;
let barRotated: Issued;
let foo = '';
let bar = '';

before(async () => {
  fooRoot = await makeRoot('foo.com');
  barRoot = await makeRoot('bar.com');
  barRotated = await makeRoot('bar.com');
  foo = bundleJwks([fooRoot]);
  bar = bundleJwks([barRoot], true, 3);
});

test('a bundle is held when it has the same X.509 roots, whatever its JSON looks like', () => {
  const reordered = bundleJwks([barRotated, barRoot], false, 9);
  assert.equal(holdsBundle(bar, bar), true);
  assert.equal(holdsBundle(bundleJwks([barRoot], false, 11), bar), true, 'sequence, JWT keys');
  assert.equal(holdsBundle(JSON.stringify(JSON.parse(bar)), bar), true, 'whitespace');
  assert.equal(holdsBundle(reordered, bundleJwks([barRoot, barRotated])), true, 'order');
  assert.equal(holdsBundle(bundleJwks([barRotated]), bar), false, 'other root');
  assert.equal(holdsBundle(reordered, bar), false, 'an extra root');
  assert.equal(holdsBundle(null, bar), false);
  assert.equal(holdsBundle('{"keys": []}', '{"keys": []}'), false, 'no roots at all');
  assert.equal(holdsBundle('not json', bar), false);
});

test('unknown exit status: the read-back decides, and "not yet" is not a failure', () => {
  assert.deepEqual(bundleSetVerdict('bar.com', null, '', bar, bar), { status: 'done' });
  const notYet = bundleSetVerdict('bar.com', null, '', null, bar);
  assert.equal(notYet.status, 'unknown');
  assert.match((notYet as { reason: string }).reason, /without an exit status.*holds no bundle/);
});

test('a known exit is judged by the read-back too', () => {
  assert.deepEqual(bundleSetVerdict('bar.com', 1, 'already exists', bar, bar), {
    status: 'done',
  });
  const other = bundleSetVerdict('bar.com', 0, '', bundleJwks([barRotated]), bar);
  assert.deepEqual(other, {
    status: 'failed',
    reason: 'bundle set for bar.com reported success, but the server holds other roots for it',
  });
  const refused = bundleSetVerdict('bar.com', 1, 'rpc error: code = InvalidArgument\n', null, bar);
  assert.deepEqual(refused, {
    status: 'failed',
    reason:
      'bundle set for bar.com failed (exit 1: rpc error: code = InvalidArgument); the server holds no bundle for it',
  });
});

/** How an emulated server answers `bundle set`. */
type SetBehaviour =
  | { kind: 'v4'; takesMs: number; lostSends?: number }
  | { kind: 'exit'; code: number; stderr: string };

/** A cluster whose spire-server pod answers the CLI as SPIRE 1.5 does. */
class SpireCluster extends FakeCluster {
  readonly own: string;
  readonly held = new Map<string, string>();
  readonly calls: string[] = [];
  notListeningFor = 0;
  readonly set: SetBehaviour;
  sends = 0;

  constructor(context: string, index: number, trustDomain: string, own: string, set: SetBehaviour) {
    super(context, 10_000);
    Object.assign(this.cluster, { index, trustDomain });
    this.own = own;
    this.set = set;
  }

  override async exec(
    _namespace: string,
    _pod: string,
    _container: string,
    command: string[],
    options: { stdin?: string } = {},
  ): Promise<ExecResult> {
    const [, noun, verb, ...rest] = command;
    const id = rest.includes('-id')
      ? (rest[rest.indexOf('-id') + 1] ?? '').replace('spiffe://', '')
      : '';
    this.calls.push(`${noun} ${verb}${id ? ` ${id}` : ''}`);
    if (this.notListeningFor > 0) {
      this.notListeningFor--;
      return {
        stdout: '',
        stderr:
          'Error: connection error: desc = "transport: error while dialing: dial unix /run/spire/sockets/server.sock: connect: no such file or directory"\n',
        exitCode: 1,
      };
    }
    if (verb === 'show') return { stdout: this.own, stderr: '', exitCode: 0 };
    if (verb === 'list') {
      const held = this.held.get(id);
      return held
        ? { stdout: held, stderr: '', exitCode: 0 }
        : { stdout: '', stderr: 'rpc error: code = NotFound desc = no such bundle\n', exitCode: 1 };
    }
    this.sends++;
    if (this.set.kind === 'exit')
      return { stdout: '', stderr: this.set.stderr, exitCode: this.set.code };
    // client-node closed the socket after stdin: the command finishes later, or
    // (when its input was lost) not at all, and no status is ever seen.
    if (this.sends > (this.set.lostSends ?? 0)) {
      const bundle = options.stdin ?? '';
      setTimeout(() => this.held.set(id, bundle), this.set.takesMs);
    }
    return { stdout: '', stderr: '', exitCode: null };
  }
}

/** The production pace, shortened: the emulated commands finish in milliseconds. */
const PACE = { readBackDelaysMs: [20, 50, 100, 200], tries: 3 };

/** cluster-1 (foo.com) and cluster-2 (bar.com), each answering `bundle set` as told. */
function pair(
  first: SetBehaviour,
  second: SetBehaviour = { kind: 'v4', takesMs: 0 },
): [SpireCluster, SpireCluster] {
  return [
    new SpireCluster('cluster-1', 0, 'foo.com', foo, first),
    new SpireCluster('cluster-2', 1, 'bar.com', bar, second),
  ];
}

function context(clients: SpireCluster[]): RunContext {
  const config = parseInputs((name) => ({ phase: 'plan' })[name] ?? '');
  return { config, clients: clients.map((c) => c.asClient()) } as unknown as RunContext;
}

test('set with no exit status, bundle there a moment later: both sides done', async () => {
  const [one, two] = pair({ kind: 'v4', takesMs: 300 }, { kind: 'v4', takesMs: 300 });
  const outcomes = await exchangeBundles(context([one, two]), PACE);
  assert.deepEqual(
    outcomes.map((o) => [o.cluster, o.ok, o.error]),
    [
      ['cluster-1', true, undefined],
      ['cluster-2', true, undefined],
    ],
  );
  assert.equal(holdsBundle(one.held.get('bar.com') ?? null, bar), true);
  assert.equal(holdsBundle(two.held.get('foo.com') ?? null, foo), true);
  assert.deepEqual(
    outcomes[0]!.records.find((r) => r.ref.includes('bar.com')),
    { ref: 'SPIFFE bundle/spiffe://bar.com', action: 'created' },
  );
  assert.equal(one.sends, 1);
});

test('a set whose input was lost is sent again, and a re-run with both held sets nothing', async () => {
  const [one, two] = pair({ kind: 'v4', takesMs: 10, lostSends: 1 }, { kind: 'v4', takesMs: 10 });
  const first = await exchangeBundles(context([one, two]), PACE);
  assert.ok(
    first.every((o) => o.ok),
    first.map((o) => o.error).join('; '),
  );
  assert.equal(one.sends, 2);
  const again = await exchangeBundles(context([one, two]), PACE);
  assert.ok(again.every((o) => o.ok));
  assert.deepEqual(
    again.flatMap((o) => o.records.map((r) => r.action)),
    ['unchanged', 'unchanged'],
  );
  assert.equal(one.sends + two.sends, 3);
});

test('a set that never takes fails, saying the status was unknown and what the server holds', async () => {
  const [one, two] = pair({ kind: 'v4', takesMs: 0, lostSends: 99 });
  const [failed, ok] = await exchangeBundles(context([one, two]), PACE);
  assert.equal(ok!.ok, true);
  assert.equal(failed!.ok, false);
  assert.match(
    failed!.error ?? '',
    /cluster 'cluster-1': bundle set for bar\.com ended without an exit status and the server holds no bundle for it, after \d+ tries/,
  );
});

test('a refused set fails at once with what spire-server said', async () => {
  const [one, two] = pair({
    kind: 'exit',
    code: 1,
    stderr: 'Error: rpc error: code = InvalidArgument desc = bundle is invalid\n',
  });
  const [failed] = await exchangeBundles(context([one, two]), PACE);
  assert.match(failed!.error ?? '', /failed \(exit 1: Error: rpc error: code = InvalidArgument/);
  assert.equal(one.sends, 1);
});

test('a server still starting (its socket not there yet) is asked again', async () => {
  const [one, two] = pair({ kind: 'v4', takesMs: 0 });
  one.notListeningFor = 2;
  const outcomes = await exchangeBundles(context([one, two]), PACE);
  assert.ok(
    outcomes.every((o) => o.ok),
    outcomes.map((o) => o.error).join('; '),
  );
  assert.deepEqual(one.calls.slice(0, 3), ['bundle show', 'bundle show', 'bundle show']);
});
