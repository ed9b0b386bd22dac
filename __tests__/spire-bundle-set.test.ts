// `bundle set` is judged by reading the bundle back (issue 7, item 3): on
// Kubernetes 1.29 an exec with stdin may end without an exit status, which
// must count as unknown, never as success or failure by itself.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bundleSetVerdict } from '../src/phases/spire.ts';
import { bundleJwks, makeRoot, type Issued } from './verify-fixtures.ts';

let wanted = '';
let other = '';
let sameRootsNewSequence = '';

before(async () => {
  const root: Issued = await makeRoot('bar.com');
  const rotated: Issued = await makeRoot('bar.com');
  wanted = bundleJwks([root], true, 3);
  sameRootsNewSequence = bundleJwks([root], false, 9);
  other = bundleJwks([rotated]);
});

test('unknown exit status, bundle read back: done', () => {
  assert.deepEqual(bundleSetVerdict('bar.com', null, '', wanted, wanted), { ok: true });
  assert.deepEqual(bundleSetVerdict('bar.com', null, '', sameRootsNewSequence, wanted), {
    ok: true,
  });
});

test('unknown exit status, bundle not held: a failure that says the status was unknown', () => {
  const verdict = bundleSetVerdict('bar.com', null, '', null, wanted);
  assert.equal(verdict.ok, false);
  assert.match((verdict as { reason: string }).reason, /exit status unknown.*holds no bundle/);
});

test('success reported but other roots held: not trusted', () => {
  const verdict = bundleSetVerdict('bar.com', 0, '', other, wanted);
  assert.equal(verdict.ok, false);
  assert.match(
    (verdict as { reason: string }).reason,
    /reported success, but the server holds other roots/,
  );
});

test('a failed exit with the bundle held after all (another run set it): done', () => {
  assert.deepEqual(bundleSetVerdict('bar.com', 1, 'already exists', wanted, wanted), { ok: true });
  const failed = bundleSetVerdict('bar.com', 1, 'rpc error: code = InvalidArgument', null, wanted);
  assert.match((failed as { reason: string }).reason, /exit 1: rpc error: code = InvalidArgument/);
});
