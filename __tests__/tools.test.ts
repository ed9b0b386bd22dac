import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

// tool-cache must never fall back to a real runner's directories, so point it at a scratch
// root before anything imports it; each test then swaps in fresh directories below.
const scratch = mkdtempSync(join(tmpdir(), 'tools-test-'));
process.env['RUNNER_TOOL_CACHE'] = join(scratch, 'initial-cache');
process.env['RUNNER_TEMP'] = join(scratch, 'initial-temp');

const { istioPlatform } = await import('../src/tools/platform.ts');
const { installIstioctl } = await import('../src/tools/istioctl.ts');
const { fetchCertManagerRelease } = await import('../src/tools/cert-manager.ts');
const { parseSha256File } = await import('../src/tools/checksum.ts');

const ISTIO_VERSION = '1.22.1';
const CERT_MANAGER_VERSION = 'v1.15.1';
const PLATFORM = istioPlatform();
const ARCHIVE = `istioctl-${ISTIO_VERSION}-${PLATFORM}.tar.gz`;
const MANIFEST = [
  'apiVersion: v1',
  'kind: Namespace',
  'metadata:',
  '  name: cert-manager',
  '---',
  'apiVersion: v1',
  'kind: ServiceAccount',
  'metadata:',
  '  name: cert-manager',
  '  namespace: cert-manager',
  '',
].join('\n');

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** A real istioctl-shaped release archive: `istioctl` at the root, executable, prints a version. */
function makeIstioctlArchive(): Buffer {
  const dir = mkdtempSync(join(scratch, 'archive-'));
  const script = join(dir, 'istioctl');
  writeFileSync(script, `#!/bin/sh\necho "client version: ${ISTIO_VERSION}"\n`);
  chmodSync(script, 0o755);
  const out = join(dir, ARCHIVE);
  execFileSync('tar', ['-czf', out, '-C', dir, 'istioctl']);
  return readFileSync(out);
}

const archive = makeIstioctlArchive();
const archiveSha = sha256(archive);
const wrongSha = sha256('not the archive');

// Paths by scenario: /good serves everything, /wrongsum serves the archive with another file's
// digest, anything else is 404.
const routes = new Map<string, string | Buffer>([
  [`/good/${ISTIO_VERSION}/${ARCHIVE}`, archive],
  [`/good/${ISTIO_VERSION}/${ARCHIVE}.sha256`, `${archiveSha} ${ARCHIVE}\n`],
  [`/wrongsum/${ISTIO_VERSION}/${ARCHIVE}`, archive],
  [`/wrongsum/${ISTIO_VERSION}/${ARCHIVE}.sha256`, `${wrongSha} ${ARCHIVE}\n`],
  [`/good/${CERT_MANAGER_VERSION}/cert-manager.yaml`, MANIFEST],
]);
const requests: string[] = [];
let server: Server;
let base = '';

before(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    requests.push(path);
    const body = routes.get(path);
    if (body === undefined) {
      res.writeHead(404).end('Not Found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(scratch, { recursive: true, force: true });
});

let toolCache = '';
beforeEach(() => {
  requests.length = 0;
  toolCache = mkdtempSync(join(scratch, 'cache-'));
  process.env['RUNNER_TOOL_CACHE'] = toolCache;
  process.env['RUNNER_TEMP'] = mkdtempSync(join(scratch, 'temp-'));
});

const runIstioctl = (binary: string) => execFileSync(binary, ['version'], { encoding: 'utf8' });
const archiveRequests = () => requests.filter((r) => r.endsWith('.tar.gz')).length;

describe('istioPlatform', () => {
  it('maps the runner platforms to Istio archive suffixes', () => {
    assert.equal(istioPlatform('linux', 'x64'), 'linux-amd64');
    assert.equal(istioPlatform('linux', 'arm64'), 'linux-arm64');
    assert.equal(istioPlatform('darwin', 'x64'), 'osx-amd64');
    assert.equal(istioPlatform('darwin', 'arm64'), 'osx-arm64');
  });

  it('rejects other platforms, naming platform and architecture', () => {
    assert.throws(() => istioPlatform('win32', 'x64'), /"win32".*"x64"/);
    assert.throws(() => istioPlatform('linux', 'ia32'), /"linux".*"ia32"/);
  });
});

describe('parseSha256File', () => {
  const digest = 'ab'.repeat(32);
  it('takes the digest whatever whitespace follows it', () => {
    assert.equal(parseSha256File(`${digest} x.tar.gz\n`, 'u'), digest);
    assert.equal(parseSha256File(`${digest.toUpperCase()}  x.tar.gz\r\n`, 'u'), digest);
    assert.equal(parseSha256File(digest, 'u'), digest);
  });
  it('rejects a file without a digest, naming its URL', () => {
    assert.throws(
      () => parseSha256File('<html>Not here</html>', 'http://m/x.sha256'),
      /http:\/\/m\/x\.sha256/,
    );
  });
});

describe('installIstioctl', () => {
  it('installs a verified archive and the binary runs', async () => {
    const binary = (await installIstioctl(ISTIO_VERSION, `${base}/good`)).path;
    assert.ok(binary.startsWith(toolCache), `${binary} is in the tool cache`);
    assert.match(runIstioctl(binary), new RegExp(`client version: ${ISTIO_VERSION}`));
    assert.deepEqual(requests, [
      `/good/${ISTIO_VERSION}/${ARCHIVE}.sha256`,
      `/good/${ISTIO_VERSION}/${ARCHIVE}`,
    ]);
    assert.deepEqual(readdirSync(process.env['RUNNER_TEMP'] ?? ''), [], 'downloads are cleaned up');
  });

  it('tolerates trailing slashes in the base URL', async () => {
    const binary = (await installIstioctl(ISTIO_VERSION, `${base}/good//`)).path;
    assert.match(runIstioctl(binary), /client version/);
  });

  it('serves a second call from the cache without any request', async () => {
    const first = (await installIstioctl(ISTIO_VERSION, `${base}/good`)).path;
    requests.length = 0;
    const second = (await installIstioctl(ISTIO_VERSION, `${base}/good`)).path;
    assert.equal(second, first);
    assert.deepEqual(requests, []);
    assert.match(runIstioctl(second), /client version/);
  });

  it('detects a tampered cached binary and downloads it again', async () => {
    const binary = (await installIstioctl(ISTIO_VERSION, `${base}/good`)).path;
    writeFileSync(binary, '#!/bin/sh\necho "tampered"\n');
    requests.length = 0;
    const again = (await installIstioctl(ISTIO_VERSION, `${base}/good`)).path;
    assert.equal(archiveRequests(), 1);
    assert.match(runIstioctl(again), new RegExp(`client version: ${ISTIO_VERSION}`));
  });

  it('downloads again when the install record next to the binary is gone', async () => {
    const binary = (await installIstioctl(ISTIO_VERSION, `${base}/good`)).path;
    rmSync(`${binary}.install.json`);
    requests.length = 0;
    await installIstioctl(ISTIO_VERSION, `${base}/good`);
    assert.equal(archiveRequests(), 1);
    assert.ok(existsSync(`${binary}.install.json`));
  });

  it('fails on a wrong checksum with both digests and the fix, and caches nothing', async () => {
    const url = `${base}/wrongsum/${ISTIO_VERSION}/${ARCHIVE}`;
    await assert.rejects(installIstioctl(ISTIO_VERSION, `${base}/wrongsum`), (error: Error) => {
      assert.ok(error.message.includes(url), error.message);
      assert.ok(error.message.includes(`expected sha256 ${wrongSha}`), error.message);
      assert.ok(error.message.includes(`got ${archiveSha}`), error.message);
      assert.match(error.message, /istioctl-base-url/);
      assert.match(error.message, /istio-version/);
      return true;
    });
    assert.equal(existsSync(join(toolCache, 'istioctl')), false);
  });

  it('fails on a 404 naming the URL, the version and the inputs, without a stack', async () => {
    const url = `${base}/missing/${ISTIO_VERSION}/${ARCHIVE}.sha256`;
    await assert.rejects(installIstioctl(ISTIO_VERSION, `${base}/missing`), (error: Error) => {
      assert.ok(error.message.includes(url), error.message);
      assert.match(error.message, /404/);
      assert.match(error.message, new RegExp(`istioctl ${ISTIO_VERSION.replaceAll('.', '\\.')} `));
      assert.match(error.message, /istio-version/);
      assert.match(error.message, /istioctl-base-url/);
      assert.doesNotMatch(error.message, /\n\s+at /);
      return true;
    });
    assert.equal(existsSync(join(toolCache, 'istioctl')), false);
  });

  it('keeps credentials in a mirror URL out of its errors', async () => {
    const withCredentials = base.replace('http://', 'http://robot:s3cret@');
    await assert.rejects(
      installIstioctl(ISTIO_VERSION, `${withCredentials}/missing`),
      (error: Error) => {
        assert.doesNotMatch(error.message, /s3cret|robot/);
        assert.match(error.message, /404/);
        return true;
      },
    );
  });

  it('rejects a version range, which tool-cache would resolve to another cached version', async () => {
    await assert.rejects(
      installIstioctl('1.22', `${base}/good`),
      /istio-version input "1\.22" is not an exact version/,
    );
    assert.deepEqual(requests, []);
  });
});

describe('fetchCertManagerRelease', () => {
  const names = (objects: { kind: string; metadata: { name: string } }[]) =>
    objects.map((o) => `${o.kind}/${o.metadata.name}`);
  const RELEASE = ['Namespace/cert-manager', 'ServiceAccount/cert-manager'];

  it('downloads the manifest and then serves it from the cache, parsed once', async () => {
    assert.deepEqual(
      names(await fetchCertManagerRelease(CERT_MANAGER_VERSION, `${base}/good/`)),
      RELEASE,
    );
    assert.deepEqual(requests, [`/good/${CERT_MANAGER_VERSION}/cert-manager.yaml`]);
    requests.length = 0;
    const dir = join(toolCache, 'cert-manager-manifest', '1.15.1', 'any');
    const kept = join(dir, 'parsed', `${sha256(MANIFEST)}.json`);
    assert.ok(existsSync(kept), 'the parse is kept by the manifest’s sha256');
    assert.deepEqual(
      names(await fetchCertManagerRelease(CERT_MANAGER_VERSION, `${base}/good`)),
      RELEASE,
    );
    assert.deepEqual(requests, []);
    // The kept parse is what a later run uses: a whole one (its digest matches) is not parsed again.
    const whole = JSON.parse(readFileSync(kept, 'utf8')) as {
      objects: { metadata: { name: string } }[];
    };
    (whole.objects[0] as { metadata: { name: string } }).metadata.name = 'from-kept';
    writeFileSync(
      kept,
      JSON.stringify({ digest: sha256(JSON.stringify(whole.objects)), objects: whole.objects }),
    );
    assert.deepEqual(names(await fetchCertManagerRelease(CERT_MANAGER_VERSION, `${base}/good`)), [
      'Namespace/from-kept',
      'ServiceAccount/cert-manager',
    ]);
    // A kept parse that does not hold its own digest is parsed anew from the manifest.
    const damaged = JSON.parse(readFileSync(kept, 'utf8')) as {
      objects: { metadata: { name: string } }[];
    };
    (damaged.objects[0] as { metadata: { name: string } }).metadata.name = 'swapped';
    writeFileSync(kept, JSON.stringify(damaged));
    assert.deepEqual(
      names(await fetchCertManagerRelease(CERT_MANAGER_VERSION, `${base}/good`)),
      RELEASE,
    );
  });

  it('downloads again when the cached manifest was changed', async () => {
    await fetchCertManagerRelease(CERT_MANAGER_VERSION, `${base}/good`);
    const cached = join(toolCache, 'cert-manager-manifest', '1.15.1', 'any', 'cert-manager.yaml');
    writeFileSync(cached, 'kind: Secret\n');
    requests.length = 0;
    assert.deepEqual(
      names(await fetchCertManagerRelease(CERT_MANAGER_VERSION, `${base}/good`)),
      RELEASE,
    );
    assert.equal(requests.length, 1);
    assert.equal(readFileSync(cached, 'utf8'), MANIFEST);
  });

  it('fails on a 404 naming the URL, the version and the inputs', async () => {
    const url = `${base}/missing/${CERT_MANAGER_VERSION}/cert-manager.yaml`;
    await assert.rejects(
      fetchCertManagerRelease(CERT_MANAGER_VERSION, `${base}/missing`),
      (error: Error) => {
        assert.ok(error.message.includes(url), error.message);
        assert.match(error.message, /404/);
        assert.ok(error.message.includes(CERT_MANAGER_VERSION), error.message);
        assert.match(error.message, /cert-manager-version/);
        assert.match(error.message, /cert-manager-base-url/);
        return true;
      },
    );
    assert.equal(existsSync(join(toolCache, 'cert-manager-manifest')), false);
  });
});
