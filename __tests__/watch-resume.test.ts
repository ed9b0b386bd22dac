// waitFor against a local server speaking the API server's read and watch: a
// watch the server ends early (as API servers do at their timeout, or on a
// restart) is resumed, never taken for the condition or for a timeout.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { configMapDiscovery, localClient } from './helpers/local-client.ts';

const state = { ready: false, watches: 0, endEarly: 3, rv: 1 };

function configMap(): object {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'flag', namespace: 'default', resourceVersion: String(state.rv) },
    data: { ready: String(state.ready) },
  };
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  res.setHeader('Content-Type', 'application/json');
  if (url.pathname === '/api/v1') return res.end(configMapDiscovery(['get', 'list', 'watch']));
  if (url.pathname === '/api/v1/namespaces/default/configmaps/flag')
    return res.end(JSON.stringify(configMap()));
  if (url.pathname === '/api/v1/namespaces/default/configmaps' && url.searchParams.get('watch')) {
    state.watches++;
    // The first watches end at once with no event, as at a server's watch timeout.
    if (state.watches <= state.endEarly) return res.end();
    state.ready = true;
    state.rv++;
    res.write(`${JSON.stringify({ type: 'MODIFIED', object: configMap() })}\n`);
    return; // left open: the client ends it once satisfied
  }
  res.statusCode = 404;
  res.end(JSON.stringify({ kind: 'Status', code: 404, message: 'not found' }));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
after(() => {
  server.closeAllConnections();
  server.close();
});

const client = (timeoutMs: number) =>
  localClient((server.address() as AddressInfo).port, timeoutMs);

const FLAG = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'flag', namespace: 'default' },
};
const isReady = (o: object): boolean =>
  (o as { data?: Record<string, string> }).data?.ready === 'true';

test('a watch the server ends early is resumed until the condition holds', async () => {
  Object.assign(state, { ready: false, watches: 0, endEarly: 3 });
  const found = await client(20_000).waitFor(FLAG, isReady, () => 'not ready');
  assert.equal(isReady(found), true);
  assert.equal(state.watches, 4, 'three ended watches, then the one that saw the change');
});

test('watches that keep ending are no success and no storm: the wait backs off, then times out saying what is missing', async () => {
  Object.assign(state, { ready: false, watches: 0, endEarly: Number.POSITIVE_INFINITY });
  await assert.rejects(
    client(1500).waitFor(FLAG, isReady, () => 'flag still false'),
    /cluster 'local': .*flag still false/,
  );
  // Ended at once every time: resumed with a growing pause, never a request storm.
  assert.ok(state.watches >= 2 && state.watches <= 8, `resumed ${state.watches} times in 1.5s`);
});
