import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import {
  analyzeEastWest,
  analyzeNorthSouth,
  parseHelloBody,
  parseTrafficOutput,
  trafficScript,
  type TrafficSample,
} from '../src/analyze/traffic.ts';

const V1 = 'Hello version: v1, instance: helloworld-v1-6bb5b589d6-jq4gn\n';
const V2 = 'Hello version: v2, instance: helloworld-v2-7fd66fcfdc-6shtc\n';
const clusters = ['cluster-1', 'cluster-2'];

const ok = (body: string, ms = 5): TrafficSample => ({ ok: true, status: 200, body, ms });
const http = (status: number, body: string): TrafficSample => ({ ok: false, status, body, ms: 3 });
const refused = (): TrafficSample => ({
  ok: false,
  status: 0,
  body: '',
  ms: 0,
  error: 'curl exit 7 (connection refused)',
});
const repeat = (n: number, f: (i: number) => TrafficSample): TrafficSample[] =>
  Array.from({ length: n }, (_, i) => f(i));

describe('parseHelloBody', () => {
  it('reads version and instance of the helloworld answer', () => {
    assert.deepEqual(parseHelloBody(V1), {
      version: 'v1',
      instance: 'helloworld-v1-6bb5b589d6-jq4gn',
    });
    assert.equal(parseHelloBody('no healthy upstream'), undefined);
  });
});

describe('analyzeEastWest', () => {
  it('passes a mixed, clean run and reports shares and latency', () => {
    const samples = repeat(20, (i) => ok(i % 4 === 0 ? V2 : V1, i + 1));
    const c = analyzeEastWest({ cluster: 'cluster-1', clusters, samples });
    assert.equal(c.ok, true);
    assert.equal(c.name, 'east-west traffic');
    assert.equal(
      c.reason,
      'v1 (cluster-1) 15 (75%), v2 (cluster-2) 5 (25%), 0 failed, p50 10 ms, p95 19 ms',
    );
    const versions = c.details?.versions as Record<
      string,
      { count: number; share: number; cluster: string; instances: string[] }
    >;
    assert.deepEqual(versions.v2, {
      count: 5,
      share: 0.25,
      cluster: 'cluster-2',
      instances: ['helloworld-v2-7fd66fcfdc-6shtc'],
    });
  });

  it('fails when only v1 answers: the second cluster is not reached', () => {
    const c = analyzeEastWest({
      cluster: 'cluster-1',
      clusters,
      samples: repeat(10, () => ok(V1)),
    });
    assert.equal(c.ok, false);
    assert.equal(c.reason, 'only v1 (cluster-1) answered; no answer from v2 (cluster-2)');
  });

  it('fails when only v2 answers', () => {
    const c = analyzeEastWest({
      cluster: 'cluster-1',
      clusters,
      samples: repeat(10, () => ok(V2)),
    });
    assert.equal(c.reason, 'only v2 (cluster-2) answered; no answer from v1 (cluster-1)');
  });

  it('fails when some requests failed, even if both versions answered', () => {
    const samples = [
      ...repeat(8, (i) => ok(i % 2 ? V1 : V2)),
      http(503, 'upstream connect error or disconnect/reset before headers'),
      refused(),
    ];
    const c = analyzeEastWest({ cluster: 'cluster-1', clusters, samples });
    assert.equal(c.ok, false);
    assert.equal(
      c.reason,
      '2 of 10 requests failed (HTTP 503 x1, curl exit 7 (connection refused) x1); answers: v1 (cluster-1) 4 (40%), v2 (cluster-2) 4 (40%)',
    );
    assert.equal((c.details?.examples as unknown[]).length, 2);
  });

  it('fails when every request failed', () => {
    const c = analyzeEastWest({
      cluster: 'cluster-1',
      clusters,
      samples: repeat(3, () => refused()),
    });
    assert.equal(c.reason, 'all 3 requests failed (curl exit 7 (connection refused) x3)');
  });

  it('fails without samples', () => {
    const c = analyzeEastWest({ cluster: 'cluster-1', clusters, samples: [] });
    assert.equal(c.ok, false);
    assert.equal(c.reason, 'no samples: not a single request was made');
  });

  it('fails an unexpected version', () => {
    const samples = [
      ok(V1),
      ok(V2),
      ok('Hello version: v3, instance: helloworld-v3-5b9c7d8f6-abcde\n'),
    ];
    const c = analyzeEastWest({ cluster: 'cluster-1', clusters, samples });
    assert.equal(c.reason, 'unexpected version v3 answered; expected v1, v2');
  });

  it('fails a 200 that is not a helloworld answer', () => {
    const c = analyzeEastWest({
      cluster: 'cluster-1',
      clusters,
      samples: [ok(V1), ok(V2), ok('<html>default backend</html>')],
    });
    assert.equal(c.reason, 'unexpected answer: 1 of 3 responses are not a helloworld answer');
  });
});

describe('analyzeNorthSouth', () => {
  it('passes when every answer is v2', () => {
    const c = analyzeNorthSouth({
      cluster: 'cluster-1',
      clusters,
      samples: repeat(5, () => ok(V2, 12)),
    });
    assert.equal(c.ok, true);
    assert.equal(c.reason, 'v2 (cluster-2) 5 (100%), 0 failed, p50 12 ms, p95 12 ms');
  });

  it('fails when only v1 answers', () => {
    const c = analyzeNorthSouth({
      cluster: 'cluster-1',
      clusters,
      samples: repeat(5, () => ok(V1)),
    });
    assert.equal(c.reason, 'only v1 (cluster-1) answered; expected only v2');
  });

  it('fails when v1 still answers beside v2', () => {
    const c = analyzeNorthSouth({
      cluster: 'cluster-1',
      clusters,
      samples: [ok(V2), ok(V1), ok(V2)],
    });
    assert.equal(c.reason, 'unexpected version v1 (cluster-1) answered 1 of 3; expected only v2');
  });

  it('fails an unknown version', () => {
    const c = analyzeNorthSouth({
      cluster: 'cluster-1',
      clusters,
      samples: [ok('Hello version: v3, instance: x\n')],
    });
    assert.equal(c.reason, 'unexpected version v3 answered 1 of 1; expected only v2');
  });

  it('fails on failures and without samples', () => {
    assert.match(
      analyzeNorthSouth({ cluster: 'cluster-1', clusters, samples: [ok(V2), http(404, '')] })
        .reason,
      /^1 of 2 requests failed \(HTTP 404 x1\)/,
    );
    assert.match(
      analyzeNorthSouth({ cluster: 'cluster-1', clusters, samples: [] }).reason,
      /^no samples/,
    );
  });
});

describe('parseTrafficOutput', () => {
  it('recovers bodies verbatim, with or without a final newline', () => {
    const out =
      '@@mesh-federation begin 1\nHello version: v1, instance: a\n\n@@mesh-federation meta 200 0.004512\n@@mesh-federation end 1 0\n' +
      '@@mesh-federation begin 2\nno newline\n@@mesh-federation meta 503 0.010000\n@@mesh-federation end 2 0\n' +
      '@@mesh-federation begin 3\n\n@@mesh-federation meta 000 5.001234\n@@mesh-federation end 3 28\n' +
      '@@mesh-federation begin 4\nHello version: v2, ins';
    assert.deepEqual(parseTrafficOutput(out), [
      { ok: true, status: 200, body: 'Hello version: v1, instance: a\n', ms: 4.5 },
      { ok: false, status: 503, body: 'no newline', ms: 10 },
      { ok: false, status: 0, body: '', ms: 5001.2, error: 'curl exit 28 (timed out)' },
      {
        ok: false,
        status: 0,
        body: 'Hello version: v2, ins',
        ms: 0,
        error: 'output cut off before the request finished',
      },
    ]);
  });
});

describe('trafficScript', () => {
  it('is a bounded POSIX loop with the URL safely quoted', () => {
    const script = trafficScript("http://gw/hello?a='b'", 3, { maxTimeSeconds: 2 });
    assert.match(script, /while \[ "\$i" -lt 3 \]; do/);
    assert.match(script, /--max-time 2 /);
    assert.match(script, /'http:\/\/gw\/hello\?a='\\''b'\\'''$/m);
    assert.throws(() => trafficScript('http://gw/hello', 0), RangeError);
    assert.throws(() => trafficScript('http://gw/hello; rm -rf /', 1), /invalid URL/);
    assert.throws(() => trafficScript('http://gw/', 1, { maxTimeSeconds: 0 }), RangeError);
  });

  const hasCurl = (() => {
    try {
      execFileSync('curl', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  describe(
    'run by sh against a local helloworld',
    { skip: hasCurl ? false : 'curl is not installed' },
    () => {
      let server: Server;
      let base: string;
      let hits = 0;
      before(async () => {
        server = createServer((req, res) => {
          if (req.url === '/unavailable') {
            res.writeHead(503).end('no healthy upstream');
            return;
          }
          hits++;
          res
            .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
            .end(hits % 2 ? V1 : V2);
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      });
      after(() => new Promise<void>((resolve) => server.close(() => resolve())));

      const run = async (url: string, n: number): Promise<TrafficSample[]> => {
        const { stdout } = await promisify(execFile)('sh', [
          '-c',
          trafficScript(url, n, { maxTimeSeconds: 2 }),
        ]);
        return parseTrafficOutput(stdout);
      };

      it('parses what curl printed into passing east-west samples', async () => {
        const samples = await run(`${base}/hello`, 6);
        assert.equal(samples.length, 6);
        assert.deepEqual(
          samples.map((s) => [s.ok, s.status, s.body]),
          [V1, V2, V1, V2, V1, V2].map((b) => [true, 200, b]),
        );
        assert.ok(samples.every((s) => s.ms > 0 && s.ms < 2000));
        assert.equal(analyzeEastWest({ cluster: 'cluster-1', clusters, samples }).ok, true);
      });

      it('reports HTTP errors and refused connections as failures', async () => {
        const unavailable = await run(`${base}/unavailable`, 2);
        assert.deepEqual(
          unavailable.map((s) => [s.ok, s.status, s.body]),
          [
            [false, 503, 'no healthy upstream'],
            [false, 503, 'no healthy upstream'],
          ],
        );
        // A port nobody listens on: the server's own port once it is closed is racy, so use port 1.
        const [closed] = await run('http://127.0.0.1:1/hello', 1);
        assert.equal(closed?.ok, false);
        assert.equal(closed?.status, 0);
        assert.equal(closed?.error, 'curl exit 7 (connection refused)');
        assert.equal(
          analyzeNorthSouth({
            cluster: 'cluster-1',
            clusters,
            samples: [...unavailable, closed as TrafficSample],
          }).reason,
          'all 3 requests failed (HTTP 503 x2, curl exit 7 (connection refused) x1)',
        );
      });
    },
  );
});
