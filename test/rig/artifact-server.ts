// Serves release artifacts on 127.0.0.1 the way their upstream download sites lay them out,
// for the action's `istioctl-base-url` / `cert-manager-base-url` inputs:
//   /istio/<V>/istioctl-<V>-linux-amd64.tar.gz (+ .sha256, "<hex> <name>")  the rig-built istioctl
//   /cert-manager/<V>/cert-manager.yaml                                     see cert-manager-manifest.ts
//   /spire-controller-manager/v<V>/config/crd/bases/<file>   from the Go module of the rig's build
//     (MESH_RIG_PROFILE=current; for the action's `spire-crds-base-url`)
// Use startArtifactServer() from tests, or `node test/rig/artifact-server.ts [port]` by hand.
// MESH_RIG_ISTIOCTL (or the `istioctl` option) serves another istioctl than the rig-built one,
// under its own stamped version. With istio-system on real nodes (MESH_RIG_REAL) and profile seed
// the default is bin-build's istioctl-1-22 (1.22.1), the release of the rig's istiod and proxy
// images; profile current's images are built at the rig-built istioctl's commit.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { loadBinaries } from './binaries.ts';
import { CERT_MANAGER_VERSION, certManagerManifest } from './cert-manager-manifest.ts';
import { rigLayout } from './layout.ts';
import { moduleDir } from './gomod.ts';

/** What bin-build's spire-controller-manager family pins (test/rig/bin-build). */
export const SPIRE_CONTROLLER_MANAGER_MODULE = 'github.com/spiffe/spire-controller-manager';
export const SPIRE_CONTROLLER_MANAGER_VERSION = 'v0.7.0';

const run = promisify(execFile);
const PLATFORM = 'linux-amd64';

export interface ArtifactServer {
  /** http://127.0.0.1:<port> */
  url: string;
  istioctlBaseUrl: string;
  certManagerBaseUrl: string;
  spireCrdsBaseUrl: string;
  versions: { istio: string; certManager: string; spireControllerManager: string };
  /** sha256 of the served istioctl archive. */
  istioctlSha256: string;
  /** Every request, in order, as "<METHOD> <path> <status>". */
  requests: string[];
  close(): Promise<void>;
}

export interface ArtifactOptions {
  port?: number;
  /** Defaults to the version the rig-built istioctl reports. */
  istioVersion?: string;
  certManagerVersion?: string;
  cacheDir?: string;
  /** Path of the istioctl binary to serve; defaults to MESH_RIG_ISTIOCTL, then the rig-built one. */
  istioctl?: string;
}

/** The version stamped into istioctl (`istioctl version --remote=false`). */
export async function istioctlVersion(istioctl: string): Promise<string> {
  const { stdout } = await run(istioctl, ['version', '--remote=false'], {
    env: { ...process.env, HOME: '/nonexistent', KUBECONFIG: '/dev/null' },
  });
  const v = /\d+\.\d+\.\d+[\w.+-]*/.exec(stdout)?.[0];
  if (!v)
    throw new Error(
      `cannot read a version from \`istioctl version --remote=false\`: ${stdout.trim()}`,
    );
  return v;
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** The tarball (istioctl at its root), rebuilt only when the binary is newer than the cache. */
async function istioctlArchive(
  istioctl: string,
  version: string,
  cacheDir: string,
): Promise<string> {
  const archive = join(
    cacheDir,
    'artifacts',
    'istio',
    version,
    `istioctl-${version}-${PLATFORM}.tar.gz`,
  );
  if (existsSync(archive) && statSync(archive).mtimeMs >= statSync(istioctl).mtimeMs)
    return archive;
  mkdirSync(dirname(archive), { recursive: true });
  const tmp = `${archive}.tmp-${process.pid}`;
  await run('tar', [
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    // The release tarball has `istioctl` at its root, whatever the binary is called here.
    '--transform=s|^.*$|istioctl|',
    '-C',
    dirname(istioctl),
    '-czf',
    tmp,
    basename(istioctl),
  ]);
  renameSync(tmp, archive);
  return archive;
}

/**
 * The CRDs of the rig's spire-controller-manager build, from its Go module (present once
 * `build.sh --current` ran); none when it is absent, so the seed profile needs nothing of it.
 */
function spireCrdFiles(): { path: string; text: string }[] {
  let dir: string;
  try {
    dir = join(
      moduleDir(SPIRE_CONTROLLER_MANAGER_MODULE, SPIRE_CONTROLLER_MANAGER_VERSION),
      'config',
      'crd',
      'bases',
    );
  } catch {
    return [];
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => ({
      path: `/spire-controller-manager/${SPIRE_CONTROLLER_MANAGER_VERSION}/config/crd/bases/${f}`,
      text: readFileSync(join(dir, f), 'utf8'),
    }));
}

export async function startArtifactServer(opts: ArtifactOptions = {}): Promise<ArtifactServer> {
  const rig = rigLayout();
  const cacheDir = opts.cacheDir ?? rig.cacheDir;
  // With istiod and the proxies on real nodes, the istioctl built from their Istio source, so
  // the action installs the version they are: for the seed bin-build's istioctl-1-22 (stamped
  // 1.22.1); for current the rig-built one, at the commit of its pilot and proxy images.
  const realIstio = rig.realNamespaces.includes('istio-system') && rig.spireProfile === 'seed';
  const istioctl =
    opts.istioctl ??
    (process.env.MESH_RIG_ISTIOCTL ||
      (realIstio
        ? loadBinaries(cacheDir, ['istioctl-1-22'])['istioctl-1-22']
        : loadBinaries(cacheDir, ['istioctl']).istioctl));
  const istio = opts.istioVersion ?? (await istioctlVersion(istioctl));
  const certManager = opts.certManagerVersion ?? CERT_MANAGER_VERSION;
  const archive = await istioctlArchive(istioctl, istio, cacheDir);
  const archiveName = basename(archive);
  const digest = await sha256(archive);
  const manifest = certManagerManifest(certManager);
  const checksum = `${digest} ${archiveName}\n`;

  const requests: string[] = [];
  const crdRoutes = spireCrdFiles().map(
    ({ path, text }) =>
      [
        path,
        (res: ServerResponse) =>
          res.writeHead(200, { 'content-type': 'application/yaml' }).end(text),
      ] as const,
  );
  const routes = new Map<string, (res: ServerResponse) => void>([
    ...crdRoutes,
    [
      `/istio/${istio}/${archiveName}`,
      (res) => {
        res.writeHead(200, {
          'content-type': 'application/gzip',
          'content-length': statSync(archive).size,
        });
        createReadStream(archive).pipe(res);
      },
    ],
    [
      `/istio/${istio}/${archiveName}.sha256`,
      (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(checksum),
    ],
    [
      `/cert-manager/${certManager}/cert-manager.yaml`,
      (res) => res.writeHead(200, { 'content-type': 'application/yaml' }).end(manifest),
    ],
  ]);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const route = req.method === 'GET' || req.method === 'HEAD' ? routes.get(path) : undefined;
    if (route) route(res);
    else
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not served by the rig: ${path}\n`);
    requests.push(`${req.method} ${path} ${res.statusCode}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    istioctlBaseUrl: `${url}/istio`,
    certManagerBaseUrl: `${url}/cert-manager`,
    spireCrdsBaseUrl: `${url}/spire-controller-manager`,
    versions: { istio, certManager, spireControllerManager: SPIRE_CONTROLLER_MANAGER_VERSION },
    istioctlSha256: digest,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = process.argv[2] ? Number(process.argv[2]) : 0;
  startArtifactServer({ port }).then(
    (s) => {
      console.log(
        JSON.stringify(
          {
            url: s.url,
            istioctlBaseUrl: s.istioctlBaseUrl,
            certManagerBaseUrl: s.certManagerBaseUrl,
            versions: s.versions,
          },
          null,
          2,
        ),
      );
      const stop = () => void s.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (err: Error) => {
      console.error(`artifact-server: ${err.message}`);
      process.exit(1);
    },
  );
}
