// istioctl does not retry its own calls: which of its failures are passing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { istioctlPassing } from '../src/cluster/client.ts';

test('a dropped connection or a busy server inside istioctl is passing; a bad flag is not', () => {
  const seen =
    'istioctl create-remote-secret --name=cluster-2 failed (exit 1): error: could not get access token to read resources from local kube-apiserver: Post "https://127.0.0.1:38481/api/v1/namespaces/istio-system/secrets?timeout=15s": EOF';
  assert.equal(istioctlPassing(new Error(seen)), true);
  assert.equal(istioctlPassing(new Error('failed (exit 1): the server responded with 503')), true);
  assert.equal(istioctlPassing(new Error('failed (exit 1): Error: unknown flag: --nmae')), false);
  assert.equal(
    istioctlPassing(new Error('failed (exit 1): secrets is forbidden: User cannot create')),
    false,
  );
});
