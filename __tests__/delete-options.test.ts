// A DELETE carries its DeleteOptions (propagation, preconditions) as a body,
// which the API server reads only when the request says how long it is:
// Node sends no chunked framing for DELETE, so an unframed body never arrives
// and, on a kept-alive connection, is read as the start of the next request.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { configMapDiscovery, localClient } from './helpers/local-client.ts';

const received: { method: string; body: string }[] = [];

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  res.setHeader('Content-Type', 'application/json');
  if (url.pathname === '/api/v1') return res.end(configMapDiscovery(['get', 'delete']));
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    received.push({ method: req.method ?? '', body });
    res.end(JSON.stringify({ kind: 'Status', status: 'Success' }));
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
after(() => {
  server.closeAllConnections();
  server.close();
});

test('delete sends its DeleteOptions as a body the server can read', async () => {
  const client = localClient((server.address() as AddressInfo).port, 5000);
  const header = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n' } };
  assert.equal(await client.delete(header), 'deleted');
  const deletes = received.filter((r) => r.method === 'DELETE');
  assert.equal(deletes.length, 1);
  assert.deepEqual(JSON.parse(deletes[0]?.body || '{}'), {
    apiVersion: 'v1',
    kind: 'DeleteOptions',
    propagationPolicy: 'Background',
  });
});
