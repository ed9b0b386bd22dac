// Two real Kubernetes control planes side by side on this machine, for end-to-end tests.
//   node test/rig/rig.ts up       start (or complete) both clusters; prints the kubeconfig path
//   node test/rig/rig.ts status   health of every process; exit 1 if anything is down
//   node test/rig/rig.ts down     stop everything and delete the state directory
// Per cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, a SPIRE
// server, and (run by the rig controller) the k8s-workload-registrar and, once cert-manager's
// CRDs are Established, the cert-manager controller.
// Env: MESH_RIG_STATE (default /tmp/mesh-rig), MESH_RIG_CACHE (binaries),
// MESH_RIG_TRUST_DOMAINS (default foo.com,bar.com), MESH_RIG_PORT_BASE (default 20000),
// MESH_RIG_INSTANCE (address plan, default 0; see layout.ts), MESH_RIG_REAL (namespaces whose
// pods run on real nodes, test/rig/node; with `spire` the rig runs no SPIRE server or registrar
// of its own; set it for every command on that rig, `down` it before changing it).

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { missingCertManagerCrds } from './addons.ts';
import { ensurePlacementPolicy } from './placement-policy.ts';
import { ensureRealNodes, realNodeName, stopRealNodes, useRealDemoRig } from './real-nodes.ts';
import { loadRigBinaries, type Binaries } from './binaries.ts';
import { createCa, createKeyPair, issueCert } from './certs.ts';
import {
  apiserverSpec,
  CERT_MANAGER_CONTROLLER,
  controllerManagerSpec,
  etcdSpec,
  KUBELET_CLIENT_USER,
  kubeletApiAdminBinding,
  kwokSpec,
  nodeObject,
  schedulerSpec,
  spireSpec,
  SPIRE_CONTROLLER_MANAGER,
  WORKLOAD_REGISTRAR,
  writeKwokConfig,
  writeSpireConfig,
  writeSpireExecWrapper,
} from './components.ts';
import { apiCall, apiRequest, credentialsFromFiles, type ApiCredentials } from './kube-http.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import {
  apiserverUrl,
  firstServiceIp,
  CONTROLLER_REVISION,
  pkiPaths,
  REAL_NAMESPACES_FILE,
  realSpire,
  rigLayout,
  SPIRE_BUNDLE_PORT,
  STATE_MARKER,
  type ClusterLayout,
  type RigLayout,
} from './layout.ts';
import {
  findPidFiles,
  groupRssBytes,
  runningPid,
  startProcess,
  stopProcess,
  type ProcessSpec,
} from './processes.ts';

const run = promisify(execFile);
const CONTROLLER = 'rig-controller';

export interface RigClusterInfo {
  context: string;
  apiServer: string;
  trustDomain: string;
  /** Where that cluster's real SPIRE server serves its federation bundle endpoint. */
  spireBundleEndpoint: string;
  /** LoadBalancer IPs are `<lbPrefix>.<n>`. */
  lbPrefix: string;
}

export interface RigInfo {
  kubeconfig: string;
  stateDir: string;
  contexts: string[];
  clusters: RigClusterInfo[];
  /** Milliseconds `up` took; 0 when the rig was already up. */
  startMs: number;
  alreadyUp: boolean;
}

function creds(c: ClusterLayout): ApiCredentials {
  return credentialsFromFiles(apiserverUrl(c), pkiPaths(c));
}

async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function ensurePki(c: ClusterLayout): Promise<void> {
  const p = pkiPaths(c);
  if (existsSync(p.saPub)) return;
  mkdirSync(p.dir, { recursive: true });
  const ca = await createCa(`mesh-rig ${c.name} CA`);
  const serving = await issueCert(ca, {
    commonName: 'kube-apiserver',
    usage: 'server',
    dnsNames: [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    ips: ['127.0.0.1', firstServiceIp(c)],
  });
  const admin = await issueCert(ca, {
    commonName: 'mesh-rig-admin',
    organization: 'system:masters',
    usage: 'client',
  });
  // The aggregation layer's CA: without it every component logs a missing requestheader CA.
  const frontProxyCa = await createCa(`mesh-rig ${c.name} front-proxy CA`);
  const frontProxy = await issueCert(frontProxyCa, {
    commonName: 'front-proxy-client',
    usage: 'client',
  });
  const sa = await createKeyPair();
  const write = (f: string, s: string) => writeFileSync(f, s, { mode: 0o600 });
  write(p.caKey, ca.key);
  write(p.servingCert, serving.cert);
  write(p.servingKey, serving.key);
  write(p.adminCert, admin.cert);
  write(p.adminKey, admin.key);
  write(p.frontProxyCaCert, frontProxyCa.cert);
  write(p.frontProxyClientCert, frontProxy.cert);
  write(p.frontProxyClientKey, frontProxy.key);
  write(p.saKey, sa.privateKey);
  write(p.caCert, ca.cert);
  // Written last: its presence means the whole set exists.
  write(p.saPub, sa.publicKey);
}

/**
 * Certificates for API server <-> kubelet: the API server's client certificate and kwok's
 * serving certificate. Apart from ensurePki so that a state dir made before them gets them.
 */
async function ensureKubeletPki(c: ClusterLayout): Promise<void> {
  const p = pkiPaths(c);
  const ca = { cert: readFileSync(p.caCert, 'utf8'), key: readFileSync(p.caKey, 'utf8') };
  const write = (f: string, s: string) => writeFileSync(f, s, { mode: 0o600 });
  if (!existsSync(p.kubeletClientCert)) {
    const client = await issueCert(ca, { commonName: KUBELET_CLIENT_USER, usage: 'client' });
    write(p.kubeletClientKey, client.key);
    write(p.kubeletClientCert, client.cert);
  }
  if (!existsSync(p.kwokServingCert)) {
    const serving = await issueCert(ca, {
      commonName: `kwok ${c.name}`,
      usage: 'server',
      ips: ['127.0.0.1'],
      dnsNames: ['localhost', ...c.nodeNames],
    });
    write(p.kwokServingKey, serving.key);
    write(p.kwokServingCert, serving.cert);
  }
}

async function ensureAdmissionCa(rig: RigLayout): Promise<void> {
  if (existsSync(rig.admissionCaCert)) return;
  mkdirSync(rig.controllerDir, { recursive: true });
  const ca = await createCa('mesh-rig admission CA');
  writeFileSync(rig.admissionCaKey, ca.key, { mode: 0o600 });
  writeFileSync(rig.admissionCaCert, ca.cert);
}

async function apiserverReady(c: ClusterLayout): Promise<boolean> {
  const res = await apiRequest(creds(c), 'GET', '/readyz', undefined, undefined, 3000);
  return res.status === 200;
}

async function nodesReady(c: ClusterLayout, names = c.nodeNames): Promise<boolean> {
  const res = await apiRequest(creds(c), 'GET', '/api/v1/nodes', undefined, undefined, 3000);
  if (res.status !== 200) return false;
  const nodes = JSON.parse(res.body) as {
    items: {
      metadata: { name: string };
      status?: { conditions?: { type: string; status: string }[] };
    }[];
  };
  return names.every((n) =>
    nodes.items.some(
      (i) =>
        i.metadata.name === n &&
        (i.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True'),
    ),
  );
}

async function spireHealthy(c: ClusterLayout, bin: Binaries): Promise<boolean> {
  try {
    await run(bin['spire-server'], ['healthcheck', '-socketPath', c.spireSocket], {
      timeout: 5000,
    });
    return true;
  } catch {
    return false;
  }
}

function ensureRunning(spec: ProcessSpec): void {
  mkdirSync(spec.dir, { recursive: true });
  startProcess(spec);
}

/** Fails fast with the log tail if the process died while we wait for it. */
function assertAlive(spec: ProcessSpec): void {
  if (runningPid(spec.dir, spec.name)) return;
  let tail = '';
  try {
    tail = readFileSync(join(spec.dir, `${spec.name}.log`), 'utf8')
      .split('\n')
      .slice(-15)
      .join('\n');
  } catch {
    // no log
  }
  throw new Error(`${spec.name} in ${spec.dir} exited:\n${tail}`);
}

async function waitAlive(
  spec: ProcessSpec,
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
) {
  await waitFor(what, timeoutMs, async () => {
    assertAlive(spec);
    return check();
  });
}

async function startSpire(c: ClusterLayout, rig: RigLayout, bin: Binaries): Promise<void> {
  // With the controller manager, the action's ClusterFederatedTrustDomains make the
  // relationships; a second copy in the server's config would contend with them.
  writeSpireConfig(c, rig.spireProfile === 'seed' ? rig.clusters.filter((o) => o !== c) : []);
  writeSpireExecWrapper(c, bin);
  const spec = spireSpec(c, bin);
  ensureRunning(spec);
  await waitAlive(spec, `${c.name} SPIRE server`, 60_000, () => spireHealthy(c, bin));
}

async function startCluster(
  c: ClusterLayout,
  bin: Binaries,
  podReadyDelayMs: number,
  realNamespaces: string[],
): Promise<void> {
  const real = realNamespaces.length > 0;
  const etcd = etcdSpec(c, bin);
  ensureRunning(etcd);
  await waitAlive(etcd, `${c.name} etcd`, 30_000, () =>
    httpOk(`http://127.0.0.1:${c.ports.etcdClient}/health`),
  );
  const apiserver = apiserverSpec(c, bin);
  ensureRunning(apiserver);
  await waitAlive(apiserver, `${c.name} kube-apiserver /readyz`, 120_000, () => apiserverReady(c));
  await apiCall(
    creds(c),
    'POST',
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    kubeletApiAdminBinding(),
    undefined,
    [409],
  );
  // Before any pod exists: which nodes a pod may land on (placement-policy.ts).
  if (real) await ensurePlacementPolicy(creds(c), realNamespaces);
  for (const n of c.nodeNames) {
    await apiCall(creds(c), 'POST', '/api/v1/nodes', nodeObject(n, real), undefined, [409]);
  }
  writeKwokConfig(c, podReadyDelayMs);
  const rest = [controllerManagerSpec(c, bin, real), schedulerSpec(c, bin), kwokSpec(c, bin)];
  rest.forEach(ensureRunning);
  await waitFor(`${c.name} nodes Ready`, 60_000, async () => {
    rest.forEach(assertAlive);
    return nodesReady(c);
  });
}

function controllerSpec(rig: RigLayout): ProcessSpec {
  const env = process.env;
  return {
    name: CONTROLLER,
    dir: rig.controllerDir,
    argv: [process.execPath, fileURLToPath(new URL('./controller.ts', import.meta.url))],
    // The controller lays the rig out again from these, so they must be this rig's.
    env: {
      MESH_RIG_STATE: rig.stateDir,
      MESH_RIG_CACHE: rig.cacheDir,
      MESH_RIG_INSTANCE: String(rig.instance),
      MESH_RIG_PORT_BASE: env.MESH_RIG_PORT_BASE ?? '',
      MESH_RIG_TRUST_DOMAINS: rig.clusters.map((c) => c.trustDomain).join(','),
      MESH_RIG_REAL: rig.realNamespaces.join(','),
      MESH_RIG_PROFILE: rig.spireProfile,
    },
  };
}

const readyFile = (rig: RigLayout) => join(rig.controllerDir, 'ready');

/** The controller wrote `ready`, and it runs this rig code's revision. */
function controllerCurrent(rig: RigLayout): boolean {
  try {
    return readFileSync(readyFile(rig), 'utf8').includes(` revision ${CONTROLLER_REVISION}\n`);
  } catch {
    return false;
  }
}

async function healthy(rig: RigLayout, bin: Binaries): Promise<boolean> {
  if (!existsSync(rig.kubeconfig) || !runningPid(rig.controllerDir, CONTROLLER)) return false;
  if (!controllerCurrent(rig)) return false;
  const ownSpire = !realSpire(rig);
  for (const c of rig.clusters) {
    const ok =
      (await apiserverReady(c).catch(() => false)) &&
      (await nodesReady(c).catch(() => false)) &&
      (rig.realNamespaces.length === 0 ||
        (await nodesReady(c, [realNodeName(c)]).catch(() => false))) &&
      (!ownSpire || (await spireHealthy(c, bin))) &&
      [
        'etcd',
        'kube-apiserver',
        'kube-controller-manager',
        'kube-scheduler',
        'kwok',
        ...(ownSpire ? [WORKLOAD_REGISTRAR] : []),
      ].every((n) => runningPid(c.dir, n));
    if (!ok) return false;
  }
  return true;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Serialises `up` and `down` across processes (test files run in parallel and each may call
 * up()). The lock sits next to the state directory, which `down` deletes.
 */
async function withRigLock<T>(rig: RigLayout, fn: () => Promise<T>): Promise<T> {
  const lock = `${rig.stateDir}.lock`;
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = '';
    try {
      holder = readFileSync(lock, 'utf8');
    } catch {
      continue;
    }
    // An empty file is a lock being written, not a stale one.
    if (holder && !pidAlive(Number(holder))) rmSync(lock, { force: true });
    else if (Date.now() > deadline) throw new Error(`${lock} held by pid ${holder} for 10 min`);
    else await sleep(200);
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

export function up(rig: RigLayout = rigLayout()): Promise<RigInfo> {
  return withRigLock(rig, () => upLocked(rig));
}

export function down(rig: RigLayout = rigLayout()): Promise<void> {
  return withRigLock(rig, () => downLocked(rig));
}

async function upLocked(rig: RigLayout): Promise<RigInfo> {
  const bin = loadRigBinaries(rig.cacheDir, rig.spireProfile);
  const info = {
    kubeconfig: rig.kubeconfig,
    stateDir: rig.stateDir,
    contexts: rig.clusters.map((c) => c.name),
    clusters: rig.clusters.map((c) => ({
      context: c.name,
      apiServer: apiserverUrl(c),
      trustDomain: c.trustDomain,
      spireBundleEndpoint: `https://${c.spireAddress}:${SPIRE_BUNDLE_PORT}`,
      lbPrefix: c.lbPrefix,
    })),
  };
  if (await healthy(rig, bin)) return { ...info, startMs: 0, alreadyUp: true };
  const t0 = Date.now();
  mkdirSync(rig.stateDir, { recursive: true });
  writeFileSync(
    join(rig.stateDir, STATE_MARKER),
    'mesh-federation test rig state; `rig down` deletes this directory\n',
  );
  await Promise.all(rig.clusters.map((c) => ensurePki(c)));
  await Promise.all(rig.clusters.map((c) => ensureKubeletPki(c)));
  await ensureAdmissionCa(rig);
  for (const c of rig.clusters) {
    mkdirSync(c.dir, { recursive: true });
    writeKubeconfig(pkiPaths(c).kubeconfig, [c]);
  }
  writeKubeconfig(rig.kubeconfig, rig.clusters);
  // For the node scripts (test/rig/node), which take no MESH_RIG_REAL of their own.
  writeFileSync(join(rig.stateDir, REAL_NAMESPACES_FILE), rig.realNamespaces.join('\n') + '\n');
  await Promise.all([
    ...rig.clusters.map((c) => startCluster(c, bin, rig.podReadyDelayMs, rig.realNamespaces)),
    ...(realSpire(rig) ? [] : rig.clusters.map((c) => startSpire(c, rig, bin))),
  ]);
  const controller = controllerSpec(rig);
  const running = runningPid(controller.dir, controller.name);
  // A controller of older rig code would not run the add-ons: replace it (its add-on processes
  // live on and are adopted).
  if (running && existsSync(readyFile(rig)) && !controllerCurrent(rig)) {
    await stopProcess(controller.dir, controller.name);
  }
  if (!runningPid(controller.dir, controller.name)) {
    rmSync(readyFile(rig), { force: true });
    ensureRunning(controller);
  }
  await waitAlive(controller, 'rig controller', 60_000, async () => controllerCurrent(rig));
  // The controller starts them before it is ready; one may be in a restart backoff.
  if (!realSpire(rig) && rig.spireProfile === 'seed') {
    await waitAlive(controller, 'k8s-workload-registrar on every cluster', 60_000, async () =>
      rig.clusters.every((c) => runningPid(c.dir, WORKLOAD_REGISTRAR)),
    );
  }
  if (rig.realNamespaces.length > 0) await ensureRealNodes(rig);
  return { ...info, startMs: Date.now() - t0, alreadyUp: false };
}

async function downLocked(rig: RigLayout): Promise<void> {
  if (!existsSync(rig.stateDir)) return;
  if (!existsSync(join(rig.stateDir, STATE_MARKER))) {
    throw new Error(`${rig.stateDir} has no ${STATE_MARKER} marker; refusing to delete it`);
  }
  // The nodes were joined for the namespaces `up` recorded, whatever this process was given.
  const realFile = join(rig.stateDir, REAL_NAMESPACES_FILE);
  if (existsSync(realFile) && readFileSync(realFile, 'utf8').trim()) await stopRealNodes(rig);
  // Clients before servers: the controller first (so it neither logs the clusters going away
  // nor restarts its add-ons), then the add-ons (clients of the API and SPIRE servers), etcd
  // last. Stopped all at once, the API servers and etcd each wait ~10 s for clients.
  const tiers = [
    [CONTROLLER],
    [CERT_MANAGER_CONTROLLER, WORKLOAD_REGISTRAR, SPIRE_CONTROLLER_MANAGER],
    ['kube-controller-manager', 'kube-scheduler', 'kwok', 'spire-server'],
    ['kube-apiserver'],
  ];
  const pids = findPidFiles(rig.stateDir);
  for (const tier of tiers) {
    await Promise.all(
      pids.filter((p) => tier.includes(p.name)).map((p) => stopProcess(p.dir, p.name)),
    );
  }
  const rest = tiers.flat();
  await Promise.all(
    pids.filter((p) => !rest.includes(p.name)).map((p) => stopProcess(p.dir, p.name)),
  );
  rmSync(rig.stateDir, { recursive: true, force: true });
}

export interface ComponentStatus {
  cluster: string;
  name: string;
  pid?: number;
  rssBytes: number;
  /** Running and well, or rightly not running (see `idle`). */
  healthy: boolean;
  /** Why a component that need not run yet does not (e.g. cert-manager without its CRDs). */
  idle?: string;
}

export async function status(rig: RigLayout = rigLayout()): Promise<ComponentStatus[]> {
  const bin = loadRigBinaries(rig.cacheDir, rig.spireProfile);
  const out: ComponentStatus[] = [];
  const entry = (cluster: string, dir: string, name: string, healthy: boolean, idle?: string) => {
    const pid = runningPid(dir, name);
    out.push({
      cluster,
      name,
      pid,
      rssBytes: pid ? groupRssBytes(pid) : 0,
      healthy: healthy && (!!pid || !!idle),
      ...(!pid && idle ? { idle } : {}),
    });
  };
  for (const c of rig.clusters) {
    entry(c.name, c.dir, 'etcd', await httpOk(`http://127.0.0.1:${c.ports.etcdClient}/health`));
    entry(c.name, c.dir, 'kube-apiserver', await apiserverReady(c).catch(() => false));
    const nodes = await nodesReady(c).catch(() => false);
    for (const n of ['kube-controller-manager', 'kube-scheduler']) entry(c.name, c.dir, n, true);
    entry(c.name, c.dir, 'kwok', nodes);
    if (!realSpire(rig)) {
      entry(c.name, join(c.dir, 'spire'), 'spire-server', await spireHealthy(c, bin));
      if (rig.spireProfile === 'seed') entry(c.name, c.dir, WORKLOAD_REGISTRAR, true);
      else
        entry(
          c.name,
          c.dir,
          SPIRE_CONTROLLER_MANAGER,
          true,
          'starts once the action applied its CRDs and ConfigMap',
        );
    }
    // Not running is right while its CRDs are missing; unknown (API down) is not healthy.
    const missing = await missingCertManagerCrds(creds(c)).catch(() => undefined);
    entry(
      c.name,
      c.dir,
      CERT_MANAGER_CONTROLLER,
      missing !== undefined,
      missing?.length ? `waits for CRDs: ${missing.join(', ')}` : undefined,
    );
  }
  entry('rig', rig.controllerDir, CONTROLLER, controllerCurrent(rig));
  return out;
}

async function main(cmd: string | undefined, flags: string[]): Promise<number> {
  if (flags.includes('--real')) useRealDemoRig();
  const rig = rigLayout();
  switch (cmd) {
    case 'up': {
      const info = await up(rig);
      console.error(
        info.alreadyUp ? 'rig already up' : `rig up in ${(info.startMs / 1000).toFixed(1)} s`,
      );
      console.log(info.kubeconfig);
      return 0;
    }
    case 'down':
      await down(rig);
      console.error(`rig down; removed ${rig.stateDir}`);
      return 0;
    case 'status': {
      const rows = await status(rig);
      for (const r of rows) {
        const mb = (r.rssBytes / 2 ** 20).toFixed(0).padStart(5);
        const state = !r.healthy ? 'DOWN' : r.idle ? 'idle' : 'ok  ';
        console.log(
          `${r.cluster.padEnd(10)} ${r.name.padEnd(24)} ${state} pid ${String(r.pid ?? '-').padEnd(8)} ${mb} MiB${r.idle ? `  (${r.idle})` : ''}`,
        );
      }
      const total = rows.reduce((s, r) => s + r.rssBytes, 0);
      console.log(`total RSS ${(total / 2 ** 20).toFixed(0)} MiB; kubeconfig ${rig.kubeconfig}`);
      return rows.every((r) => r.healthy) ? 0 : 1;
    }
    default:
      console.error('usage: node test/rig/rig.ts up|down|status [--real]');
      return 2;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv[2], process.argv.slice(3)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(`rig: ${err.message}`);
      process.exit(1);
    },
  );
}
