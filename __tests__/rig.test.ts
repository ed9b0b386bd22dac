// Self-tests of the end-to-end rig (test/rig): two real control planes with kwok nodes, real
// SPIRE servers behind `kubectl exec`, LoadBalancer IPs, volumes, webhooks, and the artifact
// server. Brings the rig up (or reuses it) and leaves it up for other e2e tests;
// `node test/rig/rig.ts down` stops it. Without the rig binaries every test fails with the
// command that builds them.

import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { loadBinaries, type Binaries } from '../test/rig/binaries.ts';
import { rigLayout, type ClusterLayout } from '../test/rig/layout.ts';
import { up, type RigInfo } from '../test/rig/rig.ts';
import { startArtifactServer, type ArtifactServer } from '../test/rig/artifact-server.ts';

const run = promisify(execFile);
const rig = rigLayout();
const [c1, c2] = rig.clusters as [ClusterLayout, ClusterLayout];
// Names of this run: a previous run's namespace may still be terminating.
const RUN = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const NS = `rig-selftest-${RUN}`;
const SPIRE_POD = `rig-selftest-spire-${RUN}`;

let bin: Binaries;
let info: RigInfo;
let setupError: Error | undefined;

// No kubectl call may hang a test run (a stuck exec stdin once did).
const KUBECTL_OPTS = { maxBuffer: 64 << 20, timeout: 120_000 };

async function kubectl(c: ClusterLayout, args: string[], input?: string): Promise<string> {
  const argv = ['--kubeconfig', info.kubeconfig, '--context', c.name, ...args];
  if (input === undefined) return (await run(bin.kubectl, argv, KUBECTL_OPTS)).stdout;
  return new Promise((resolve, reject) => {
    const child = execFile(bin.kubectl, argv, KUBECTL_OPTS, (err, stdout, stderr) =>
      err
        ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr || err.message}`))
        : resolve(stdout),
    );
    child.stdin!.end(input);
  });
}

const apply = (c: ClusterLayout, objects: object[]) =>
  kubectl(c, ['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n'));

async function getJson<T>(c: ClusterLayout, args: string[]): Promise<T> {
  return JSON.parse(await kubectl(c, ['get', ...args, '-o', 'json'])) as T;
}

async function eventually<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(300);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

const labels = { app: 'rig-selftest' };
const podTemplate = (container: string) => ({
  metadata: { labels },
  spec: {
    containers: [
      {
        name: container,
        image: 'registry.example/rig-selftest:1',
        ports: [{ containerPort: 8443 }],
      },
    ],
  },
});

describe('test rig', { timeout: 15 * 60_000 }, () => {
  before(async () => {
    try {
      // Throws with the build command when the binaries are missing.
      bin = loadBinaries(rig.cacheDir);
      info = await up(rig);
      console.log(
        info.alreadyUp ? 'rig already up' : `rig started in ${(info.startMs / 1000).toFixed(1)} s`,
      );
      for (const c of rig.clusters) {
        await apply(c, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }]);
      }
    } catch (err) {
      setupError = err as Error;
    }
  });
  // Every test then fails with the setup error; a failing hook would only mark them cancelled.
  beforeEach(() => {
    if (setupError) throw setupError;
  });

  after(async () => {
    if (!info) return;
    for (const c of rig.clusters) {
      await kubectl(c, ['delete', 'namespace', NS, '--wait=false', '--ignore-not-found']).catch(
        () => '',
      );
    }
  });

  it('stamps the Kubernetes version into both API servers', async () => {
    const { stdout } = await run(bin['kube-apiserver'], ['--version']);
    const expected = /Kubernetes (v\d+\.\d+\.\d+\S*)/.exec(stdout)?.[1];
    assert.ok(expected, `kube-apiserver --version printed ${stdout}`);
    assert.notEqual(expected, 'v0.0.0');
    for (const c of rig.clusters) {
      const v = JSON.parse(await kubectl(c, ['get', '--raw', '/version'])) as {
        gitVersion: string;
      };
      assert.equal(v.gitVersion, expected, `${c.name} /version`);
    }
  });

  it('makes Deployments and StatefulSets with volume claims Ready', async () => {
    await Promise.all(
      rig.clusters.map(async (c) => {
        await apply(c, [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'deploy', namespace: NS },
            spec: { replicas: 2, selector: { matchLabels: labels }, template: podTemplate('main') },
          },
          {
            apiVersion: 'apps/v1',
            kind: 'StatefulSet',
            metadata: { name: 'sts', namespace: NS },
            spec: {
              replicas: 1,
              serviceName: 'sts',
              selector: { matchLabels: labels },
              template: podTemplate('main'),
              volumeClaimTemplates: [
                {
                  metadata: { name: 'data' },
                  spec: {
                    accessModes: ['ReadWriteOnce'],
                    resources: { requests: { storage: '1Gi' } },
                  },
                },
              ],
            },
          },
        ]);
        await kubectl(c, ['-n', NS, 'rollout', 'status', 'deployment/deploy', '--timeout=90s']);
        await kubectl(c, ['-n', NS, 'rollout', 'status', 'statefulset/sts', '--timeout=90s']);
        const pvc = await getJson<{ status: { phase: string }; spec: { volumeName: string } }>(c, [
          '-n',
          NS,
          'pvc',
          'data-sts-0',
        ]);
        assert.equal(pvc.status.phase, 'Bound', `${c.name} pvc`);
        const pods = await getJson<{ items: { status: { podIP: string; phase: string } }[] }>(c, [
          '-n',
          NS,
          'pods',
        ]);
        for (const p of pods.items) {
          assert.equal(p.status.phase, 'Running');
          assert.ok(
            p.status.podIP.startsWith(`127.${c.index}.`),
            `${c.name} pod IP ${p.status.podIP} is in its loopback range`,
          );
        }
      }),
    );
  });

  it('gives LoadBalancer Services a loopback address from the cluster pool', async () => {
    for (const c of rig.clusters) {
      await apply(c, [
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'lb', namespace: NS },
          spec: {
            type: 'LoadBalancer',
            selector: labels,
            ports: [{ name: 'http', port: 80, targetPort: 8443 }],
          },
        },
      ]);
      const ip = await eventually(`${c.name} LoadBalancer ip`, 30_000, async () => {
        const svc = await getJson<{ status: { loadBalancer: { ingress?: { ip: string }[] } } }>(c, [
          '-n',
          NS,
          'service',
          'lb',
        ]);
        return svc.status.loadBalancer.ingress?.[0]?.ip;
      });
      assert.ok(ip.startsWith(`${c.lbPrefix}.`), `${c.name} LB ip ${ip}`);
      assert.notEqual(ip, c.spireAddress);
      const svc = await getJson<{ spec: { clusterIP: string } }>(c, ['-n', NS, 'service', 'lb']);
      assert.ok(
        svc.spec.clusterIP.startsWith('127.'),
        `ClusterIP ${svc.spec.clusterIP} is loopback`,
      );
    }
  });

  it('execs into spire-server pods on the cluster’s own SPIRE server, whose bundle endpoint is at the spire-server LB address', async () => {
    const created: ClusterLayout[] = [];
    const bundles = new Map<string, string>();
    try {
      for (const c of rig.clusters) {
        const existing = await kubectl(c, [
          'get',
          'service',
          '-n',
          'spire',
          'spire-server',
          '--ignore-not-found',
          '-o',
          'name',
        ]).catch(() => '');
        await apply(c, [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'spire' } },
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: {
              name: SPIRE_POD,
              namespace: 'spire',
              labels: { app: SPIRE_POD },
            },
            spec: {
              containers: [
                {
                  name: 'spire-server',
                  image: 'ghcr.io/spiffe/spire-server:1.5.1',
                  workingDir: '/opt/spire',
                },
              ],
            },
          },
        ]);
        if (!existing.trim()) {
          created.push(c);
          await apply(c, [
            {
              apiVersion: 'v1',
              kind: 'Service',
              metadata: { name: 'spire-server', namespace: 'spire' },
              spec: {
                type: 'LoadBalancer',
                selector: { app: SPIRE_POD },
                ports: [{ name: 'federation', port: 8443, targetPort: 8443 }],
              },
            },
          ]);
        }
        await kubectl(c, [
          '-n',
          'spire',
          'wait',
          '--for=condition=Ready',
          `pod/${SPIRE_POD}`,
          '--timeout=60s',
        ]);
        const pem = await kubectl(c, [
          'exec',
          '-n',
          'spire',
          SPIRE_POD,
          '-c',
          'spire-server',
          '--',
          './bin/spire-server',
          'bundle',
          'show',
          '-socketPath',
          '/run/spire/sockets/server.sock',
        ]);
        const ca = new X509Certificate(pem);
        assert.match(
          ca.subjectAltName ?? '',
          new RegExp(`URI:spiffe://${c.trustDomain.replace(/\./g, '\\.')}(,|$)`),
          `${c.name} bundle`,
        );
        bundles.set(c.name, pem);

        const lbIp = await eventually(`${c.name} spire-server LB ip`, 30_000, async () => {
          const svc = await getJson<{ status: { loadBalancer: { ingress?: { ip: string }[] } } }>(
            c,
            ['-n', 'spire', 'service', 'spire-server'],
          );
          return svc.status.loadBalancer.ingress?.[0]?.ip;
        });
        assert.equal(lbIp, c.spireAddress);
        // The bundle endpoint at the discovered address is this cluster's server: its TLS
        // identity is spiffe://<td>/spire/server, signed by the bundle we just read.
        const served = await new Promise<string>((resolve, reject) => {
          const req = httpsRequest(
            { host: lbIp, port: 8443, path: '/', ca: pem, checkServerIdentity: () => undefined },
            (res) => {
              const peer = (res.socket as TLSSocket).getPeerX509Certificate();
              res.resume();
              resolve(peer?.subjectAltName ?? '');
            },
          );
          req.on('error', reject);
          req.end();
        });
        assert.equal(served, `URI:spiffe://${c.trustDomain}/spire/server`);
      }
      assert.notEqual(
        bundles.get(c1.name),
        bundles.get(c2.name),
        'each cluster has its own SPIRE CA',
      );

      // `bundle set` reads the bundle from stdin, as the seed pipes it in: that needs the exec's
      // stdin to reach EOF (kwok never closes it; the rig's relay does). A trust domain of its
      // own keeps foo.com/bar.com federation untouched.
      const spire = (args: string[], input?: string) =>
        kubectl(
          c1,
          ['exec', ...(input === undefined ? [] : ['-i']), '-n', 'spire', SPIRE_POD]
            .concat(['-c', 'spire-server', '--', './bin/spire-server', ...args])
            .concat(['-socketPath', '/run/spire/sockets/server.sock']),
          input,
        );
      const id = 'spiffe://rig-selftest.example';
      const t0 = Date.now();
      await spire(['bundle', 'set', '-id', id], bundles.get(c2.name));
      assert.ok(Date.now() - t0 < 10_000, `bundle set took ${Date.now() - t0} ms`);
      try {
        const listed = await spire(['bundle', 'list', '-id', id]);
        assert.equal(
          new X509Certificate(listed).fingerprint256,
          new X509Certificate(bundles.get(c2.name)!).fingerprint256,
        );
      } finally {
        await spire(['bundle', 'delete', '-id', id]);
      }
    } finally {
      for (const c of rig.clusters) {
        await kubectl(c, [
          'delete',
          'pod',
          '-n',
          'spire',
          SPIRE_POD,
          '--wait=false',
          '--ignore-not-found',
        ]).catch(() => '');
      }
      for (const c of created) {
        await kubectl(c, [
          'delete',
          'service',
          '-n',
          'spire',
          'spire-server',
          '--ignore-not-found',
        ]).catch(() => '');
      }
    }
  });

  it('calls a webhook whose Service no real pod serves, and the rig allows the request', async () => {
    const c = c1;
    const name = `rig-selftest-${RUN}`;
    await apply(c, [
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: `${NS}-hooked`, labels: { 'rig-selftest/hooked': RUN } },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'hook', namespace: NS },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'hook' } },
          template: { ...podTemplate('hook'), metadata: { labels: { app: 'hook' } } },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'hook', namespace: NS },
        spec: {
          selector: { app: 'hook' },
          ports: [{ name: 'https', port: 443, targetPort: 8443 }],
        },
      },
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: { name },
        webhooks: [
          {
            name: 'configmaps.rig-selftest.example',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            timeoutSeconds: 5,
            namespaceSelector: { matchLabels: { 'rig-selftest/hooked': RUN } },
            rules: [
              {
                apiGroups: [''],
                apiVersions: ['v1'],
                operations: ['CREATE'],
                resources: ['configmaps'],
              },
            ],
            clientConfig: { service: { name: 'hook', namespace: NS, path: '/validate' } },
          },
        ],
      },
    ]);
    try {
      await kubectl(c, ['-n', NS, 'rollout', 'status', 'deployment/hook', '--timeout=60s']);
      const caBundle = readFileSync(rig.admissionCaCert).toString('base64');
      await eventually('caBundle injection', 30_000, async () => {
        const cfg = await getJson<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(c, [
          'validatingwebhookconfiguration',
          name,
        ]);
        return cfg.webhooks[0]?.clientConfig.caBundle === caBundle ? true : undefined;
      });
      // failurePolicy Fail: the create succeeds only if the API server's call was answered.
      const cm = `probe-${Date.now()}`;
      await eventually('the webhook to admit a ConfigMap', 30_000, async () => {
        await kubectl(c, ['-n', `${NS}-hooked`, 'create', 'configmap', cm]);
        return true;
      });
      const log = readFileSync(rig.controllerLog, 'utf8');
      assert.match(
        log,
        new RegExp(
          `admission ${c.name} ${NS}/hook /validate\\?timeout=5s CREATE core/ConfigMap ${NS}-hooked/${cm} uid=\\S+ allowed`,
        ),
      );
      assert.match(
        log,
        new RegExp(`${c.name} webhook validating ${name}: injected the rig admission CA`),
      );
    } finally {
      await kubectl(c, [
        'delete',
        'validatingwebhookconfiguration',
        name,
        '--ignore-not-found',
      ]).catch(() => '');
      await kubectl(c, [
        'delete',
        'namespace',
        `${NS}-hooked`,
        '--wait=false',
        '--ignore-not-found',
      ]).catch(() => '');
    }
  });

  describe('artifact server', () => {
    let server: ArtifactServer;
    let dir: string;
    before(async () => {
      if (setupError) return;
      server = await startArtifactServer({ cacheDir: rig.cacheDir });
      dir = mkdtempSync(join(tmpdir(), 'rig-artifacts-'));
    });
    after(async () => {
      await server?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('serves the rig-built istioctl as a release tarball whose sha256 matches', async () => {
      const v = server.versions.istio;
      const name = `istioctl-${v}-linux-amd64.tar.gz`;
      const tgz = Buffer.from(
        await (await fetch(`${server.istioctlBaseUrl}/${v}/${name}`)).arrayBuffer(),
      );
      const sums = await (await fetch(`${server.istioctlBaseUrl}/${v}/${name}.sha256`)).text();
      assert.equal(sums, `${createHash('sha256').update(tgz).digest('hex')} ${name}\n`);
      const file = join(dir, name);
      writeFileSync(file, tgz);
      assert.deepEqual((await run('tar', ['-tzf', file])).stdout.trim().split('\n'), ['istioctl']);
      await run('tar', ['-xzf', file, '-C', dir]);
      const { stdout } = await run(join(dir, 'istioctl'), ['version', '--remote=false']);
      assert.ok(stdout.includes(v), `istioctl reports ${stdout}`);
      assert.equal(
        (await fetch(`${server.istioctlBaseUrl}/0.0.1/istioctl-0.0.1-linux-amd64.tar.gz`)).status,
        404,
      );
    });

    it('serves a cert-manager manifest with the upstream CRDs', async () => {
      const res = await fetch(
        `${server.certManagerBaseUrl}/${server.versions.certManager}/cert-manager.yaml`,
      );
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.ok(!text.includes('{{'), 'no Helm templating left');
      for (const crd of [
        'certificates.cert-manager.io',
        'issuers.cert-manager.io',
        'clusterissuers.cert-manager.io',
        'certificaterequests.cert-manager.io',
      ]) {
        assert.ok(text.includes(`name: ${crd}`), crd);
      }
      assert.match(text, /kind: ValidatingWebhookConfiguration/);
    });
  });
});
