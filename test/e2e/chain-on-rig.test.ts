// The chain analyzer on a real chain: the action's cert-manager phase makes the
// mesh-root-ca ClusterIssuer on the rig, a throwaway SPIRE 1.5.1 server gets its
// intermediate from that issuer through the real "cert-manager" UpstreamAuthority,
// mints an X.509-SVID, and analyzeChain checks
//   leaf (spiffe://foo.com/ns/sleep/sa/sleep) <- SPIRE intermediate <- cert-manager root
// wrapped in the `istioctl proxy-config secret -o json` shape SPIRE's SDS produces.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { up } from '../rig/rig.ts';
import { startArtifactServer, type ArtifactServer } from '../rig/artifact-server.ts';
import { rigActionInputs, rigBinaries } from '../rig/local-inputs.ts';
import { explain, runAction } from '../../__tests__/helpers/run-action.ts';
import { analyzeChain, type ChainEvidence } from '../../src/analyze/chain.ts';

const run = promisify(execFile);
const CONTEXTS = ['cluster-1', 'cluster-2'];
const TRUST_DOMAIN = 'foo.com';
const SPIFFE_ID = 'spiffe://foo.com/ns/sleep/sa/sleep';
const HEALTHY_WITHIN_MS = 120_000;

let kubeconfig = '';
let kubectl = '';
let spireServer = '';
let artifacts: ArtifactServer | undefined;
let workDir = '';
let socketPath = '';
let spire: ChildProcess | undefined;
let spireLog = '';
/** ca.crt of cert-manager/mesh-root-ca per context. */
const roots: Record<string, string> = {};
const timings: Record<string, number> = {};

function inputs(phase: string): Record<string, string> {
  if (!artifacts) throw new Error('the artifact server is not running');
  return rigActionInputs(phase, kubeconfig, CONTEXTS, artifacts);
}

/** The rig kubeconfig, pointed at one context, as a private file (it holds client keys). */
function writeKubeconfig(file: string, context: string): string {
  const doc = YAML.parse(kubeconfig);
  doc['current-context'] = context;
  fs.writeFileSync(file, YAML.stringify(doc), { mode: 0o600 });
  return file;
}

async function kubectlOn(context: string, args: string[]): Promise<string> {
  const file = writeKubeconfig(path.join(workDir, `kubeconfig-${context}`), context);
  const { stdout } = await run(kubectl, ['--kubeconfig', file, ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

async function certManagerRoot(context: string): Promise<string> {
  const secret = JSON.parse(
    await kubectlOn(context, ['get', 'secret', 'mesh-root-ca', '-n', 'cert-manager', '-o', 'json']),
  ) as { data: Record<string, string> };
  const ca = secret.data['ca.crt'];
  assert.ok(ca, `secret cert-manager/mesh-root-ca on ${context} has a ca.crt`);
  return Buffer.from(ca, 'base64').toString('utf8');
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function spireConfig(dir: string, port: number, kubeconfigFile: string): string {
  return `server {
  bind_address = "127.0.0.1"
  bind_port = "${port}"
  socket_path = "${socketPath}"
  trust_domain = "${TRUST_DOMAIN}"
  data_dir = "${path.join(dir, 'data')}"
  log_level = "DEBUG"
}

plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${path.join(dir, 'data', 'datastore.sqlite3')}"
    }
  }
  KeyManager "memory" {
    plugin_data {}
  }
  UpstreamAuthority "cert-manager" {
    plugin_data {
      kube_config_file = "${kubeconfigFile}"
      namespace = "cert-manager"
      issuer_name = "mesh-root-ca"
      issuer_kind = "ClusterIssuer"
      issuer_group = "cert-manager.io"
    }
  }
}
`;
}

const logTail = (): string => spireLog.split('\n').slice(-30).join('\n');

async function spireCli(args: string[]): Promise<string> {
  const { stdout } = await run(spireServer, [...args, '-socketPath', socketPath]);
  return stdout;
}

/** Healthy means the server's CA is prepared, so cert-manager has signed the intermediate. */
async function waitHealthy(): Promise<void> {
  const deadline = Date.now() + HEALTHY_WITHIN_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (spire?.exitCode !== null) {
      assert.fail(`spire-server exited with ${spire?.exitCode}:\n${logTail()}`);
    }
    try {
      await spireCli(['healthcheck']);
      return;
    } catch (err) {
      last = String((err as { stderr?: string }).stderr ?? err).trim();
    }
    await sleep(500);
  }
  assert.fail(`spire-server not healthy within ${HEALTHY_WITHIN_MS} ms (${last}):\n${logTail()}`);
}

/** `istioctl proxy-config secret -o json` as SPIRE's SDS serves it: default chain, ROOTCA per trust domain. */
function proxySecretJson(chainPem: string, bundles: Record<string, string>): string {
  const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  const secret = (name: string, body: object) => ({
    name,
    versionInfo: new Date().toISOString(),
    lastUpdated: new Date().toISOString(),
    secret: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
      name,
      ...body,
    },
  });
  return JSON.stringify({
    dynamicActiveSecrets: [
      secret('default', {
        tlsCertificate: {
          certificateChain: { inlineBytes: b64(chainPem) },
          privateKey: { inlineBytes: b64('[redacted]') },
        },
      }),
      secret('ROOTCA', {
        validationContext: {
          customValidatorConfig: {
            name: 'envoy.tls.cert_validator.spiffe',
            typedConfig: {
              '@type':
                'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig',
              trustDomains: Object.keys(bundles)
                .sort()
                .map((name) => ({ name, trustBundle: { inlineBytes: b64(bundles[name] ?? '') } })),
            },
          },
        },
      }),
    ],
  });
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

before(async () => {
  const bins = rigBinaries();
  kubectl = bins.kubectl;
  spireServer = bins['spire-server'];
  const rig = await up();
  kubeconfig = fs.readFileSync(rig.kubeconfig, 'utf8');
  artifacts = await startArtifactServer();
  // A short directory: the API socket path must fit in sun_path (108 bytes).
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-chain-'));
  socketPath = path.join(workDir, 'api.sock');

  const phase = await runAction(inputs('cert-manager'));
  timings.certManagerPhase = phase.ms;
  assert.equal(phase.code, 0, explain(phase));
  for (const context of CONTEXTS) {
    await kubectlOn(context, [
      'wait',
      '--for=condition=Ready',
      'clusterissuer/mesh-root-ca',
      '--timeout=120s',
    ]);
    roots[context] = await certManagerRoot(context);
  }

  fs.mkdirSync(path.join(workDir, 'data'));
  const conf = path.join(workDir, 'server.conf');
  const spireKubeconfig = writeKubeconfig(path.join(workDir, 'spire-kubeconfig'), 'cluster-1');
  fs.writeFileSync(conf, spireConfig(workDir, await freePort(), spireKubeconfig));
  const started = Date.now();
  spire = spawn(spireServer, ['run', '-config', conf], {
    cwd: workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (d: Buffer) => (spireLog += d.toString());
  spire.stdout?.on('data', collect);
  spire.stderr?.on('data', collect);
  await waitHealthy();
  timings.spireHealthy = Date.now() - started;
});

after(async () => {
  if (spire && spire.exitCode === null) {
    const exited = new Promise((resolve) => spire?.once('exit', resolve));
    spire.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000).then(() => spire?.kill('SIGKILL'))]);
  }
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  if (artifacts) {
    const cleanup = await runAction(inputs('cleanup'));
    timings.cleanup = cleanup.ms;
    await artifacts.close();
    assert.equal(cleanup.code, 0, explain(cleanup));
  }
  console.log(`chain-on-rig timings (ms): ${JSON.stringify(timings)}`);
});

/** The minted SVID and the server's bundle, read once. */
let minted: { svidPem: string; bundlePem: string; bundleShowPem: string } | undefined;
async function mint(): Promise<NonNullable<typeof minted>> {
  if (minted) return minted;
  const out = path.join(workDir, 'svid');
  fs.mkdirSync(out);
  const started = Date.now();
  await spireCli(['x509', 'mint', '-spiffeID', SPIFFE_ID, '-write', out]);
  timings.mint = Date.now() - started;
  minted = {
    svidPem: fs.readFileSync(path.join(out, 'svid.pem'), 'utf8'),
    bundlePem: fs.readFileSync(path.join(out, 'bundle.pem'), 'utf8'),
    bundleShowPem: await spireCli(['bundle', 'show', '-format', 'pem']),
  };
  return minted;
}

function evidence(svidPem: string, fooBundle: string, certManagerCaPem: string): ChainEvidence {
  return {
    cluster: 'cluster-1',
    workload: 'sleep/sleep-minted',
    proxySecret: proxySecretJson(svidPem, {
      [TRUST_DOMAIN]: fooBundle,
      'bar.com': roots['cluster-2'] ?? '',
    }),
    expected: { trustDomain: TRUST_DOMAIN, namespace: 'sleep', serviceAccount: 'sleep' },
    certManagerCaPem,
    meshTrustDomains: [TRUST_DOMAIN, 'bar.com'],
    now: new Date(),
    meshRootsPem: { [TRUST_DOMAIN]: roots['cluster-1'] ?? '', 'bar.com': roots['cluster-2'] ?? '' },
  };
}

test('the two clusters have different cert-manager roots', () => {
  assert.notEqual(fingerprint(roots['cluster-1'] ?? ''), fingerprint(roots['cluster-2'] ?? ''));
});

test('a SPIRE SVID signed through the cert-manager UpstreamAuthority passes every chain check', async () => {
  const { svidPem, bundlePem, bundleShowPem } = await mint();
  assert.match(
    spireLog,
    /Waiting for certificaterequest to be signed.*namespace=cert-manager/,
    'the intermediate came from a CertificateRequest on cluster-1',
  );
  // SPIRE keeps the upstream root out of the served chain and puts it in its bundle.
  assert.equal(bundleShowPem.trim(), bundlePem.trim(), 'bundle show matches the mint bundle');
  const chain = svidPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  assert.ok(chain && chain.length >= 2, `svid.pem holds leaf and intermediate (${chain?.length})`);
  const intermediate = new X509Certificate(chain[1] as string);
  assert.ok(intermediate.ca, 'the second certificate is SPIRE’s CA');
  assert.ok(
    intermediate.verify(new X509Certificate(roots['cluster-1'] ?? '').publicKey),
    'cert-manager’s root signed SPIRE’s intermediate',
  );

  const report = analyzeChain(evidence(svidPem, bundleShowPem, roots['cluster-1'] ?? ''));
  for (const c of report.checks) assert.ok(c.ok, `${c.name}: ${c.reason}`);
  assert.equal(report.ok, true);
  for (const c of report.checks) console.log(`${c.name}: ${c.reason}`);
  assert.deepEqual(
    report.checks.map((c) => c.name),
    [
      'SPIFFE ID sleep/sleep-minted',
      'certificate chain sleep/sleep-minted',
      'trust bundles sleep/sleep-minted',
      'certificate validity sleep/sleep-minted',
    ],
  );

  const own = report.rows.filter((r) => r.trustDomain === TRUST_DOMAIN);
  assert.deepEqual(
    own.map((r) => [r.role, r.source]),
    [
      ['leaf', 'chain'],
      ['intermediate', 'chain'],
      ['root', 'bundle'],
    ],
  );
  assert.equal(own[0]?.spiffeId, SPIFFE_ID);
  assert.equal(own[2]?.sha256, fingerprint(roots['cluster-1'] ?? ''), 'root is cert-manager’s');
  const bar = report.rows.filter((r) => r.trustDomain === 'bar.com');
  assert.deepEqual(
    bar.map((r) => r.sha256),
    [fingerprint(roots['cluster-2'] ?? '')],
  );
});

test('the same chain checked against the other cluster’s cert-manager root fails', async () => {
  const { svidPem, bundleShowPem } = await mint();
  const report = analyzeChain(evidence(svidPem, bundleShowPem, roots['cluster-2'] ?? ''));
  assert.equal(report.ok, false);
  const chain = report.checks.find((c) => c.name.startsWith('certificate chain'));
  assert.equal(chain?.ok, false);
  assert.match(chain?.reason ?? '', /^root is not the cert-manager CA: chain ends at /);
  assert.ok(chain?.reason.includes(fingerprint(roots['cluster-1'] ?? '')));
  assert.ok(chain?.reason.includes(fingerprint(roots['cluster-2'] ?? '')));
  assert.ok(
    report.checks.find((c) => c.name.startsWith('SPIFFE ID'))?.ok,
    'only the chain is wrong, not the identity',
  );
});
