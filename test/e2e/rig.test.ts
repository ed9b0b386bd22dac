// Self-tests of the end-to-end rig (test/rig): two real control planes with kwok nodes, real
// SPIRE servers behind `kubectl exec`, LoadBalancer IPs, volumes, webhooks, the host add-ons
// (cert-manager controller gated on its CRDs, k8s-workload-registrar), and the artifact
// server. Brings the rig up (or reuses it) and leaves it up for other e2e tests;
// `node test/rig/rig.ts down` stops it. Without the rig binaries every test fails with the
// command that builds them.

import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { loadBinaries, type Binaries } from '../rig/binaries.ts';
import { upstreamCrds } from '../rig/cert-manager-manifest.ts';
import { CERT_MANAGER_CONTROLLER } from '../rig/components.ts';
import { rigLayout, type ClusterLayout } from '../rig/layout.ts';
import { status, up, type ComponentStatus, type RigInfo } from '../rig/rig.ts';
import { startArtifactServer, type ArtifactServer } from '../rig/artifact-server.ts';
import { SPIRE_SERVER } from '../../src/model/names.ts';

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

/** Removes a test pod from namespace spire on every cluster; already gone is fine. */
async function deleteSpirePods(name: string): Promise<void> {
  for (const c of rig.clusters) {
    await kubectl(c, [
      'delete',
      'pod',
      '-n',
      'spire',
      name,
      '--wait=false',
      '--ignore-not-found',
    ]).catch(() => '');
    // A `spire` namespace without the action's label is this test's own: the action
    // never takes over a namespace it did not create, so one left here would outlive
    // every later cleanup.
    const owner = await kubectl(c, [
      'get',
      'namespace',
      'spire',
      '--ignore-not-found',
      '-o',
      'jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}',
    ]).catch(() => 'unknown');
    const exists = (
      await kubectl(c, ['get', 'namespace', 'spire', '--ignore-not-found', '-o', 'name']).catch(
        () => '',
      )
    ).trim();
    if (exists && owner.trim() === '')
      await kubectl(c, ['delete', 'namespace', 'spire', '--wait=true', '--timeout=60s']).catch(
        () => '',
      );
  }
}

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

/** A pod whose `spire-server` container kwok execs on the cluster's own SPIRE server. */
const spireExecPod = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'spire', labels: { app: name } },
  spec: {
    containers: [
      {
        name: 'spire-server',
        image: 'ghcr.io/spiffe/spire-server:1.5.1',
        workingDir: '/opt/spire',
      },
    ],
  },
});

/** `./bin/spire-server <args>` in such a pod, as the seed runs it. */
const spireCli = (c: ClusterLayout, pod: string, args: string[], input?: string) =>
  kubectl(
    c,
    ['exec', ...(input === undefined ? [] : ['-i']), '-n', 'spire', pod]
      .concat(['-c', 'spire-server', '--', './bin/spire-server', ...args])
      .concat(['-socketPath', '/run/spire/sockets/server.sock']),
    input,
  );

async function componentStatus(c: ClusterLayout, name: string): Promise<ComponentStatus> {
  const row = (await status(rig)).find((r) => r.cluster === c.name && r.name === name);
  assert.ok(row, `rig status has no ${c.name} ${name}`);
  return row;
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
            p.status.podIP.startsWith(`${c.podCidr.split('.').slice(0, 2).join('.')}.`),
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

  it('execs into spire-server pods on the cluster’s own SPIRE server, whose bundle endpoint is at the bundle-endpoint LB address', async () => {
    const created: ClusterLayout[] = [];
    const bundles = new Map<string, string>();
    try {
      for (const c of rig.clusters) {
        const existing = await kubectl(c, [
          'get',
          'service',
          '-n',
          'spire',
          SPIRE_SERVER.bundleService,
          '--ignore-not-found',
          '-o',
          'name',
        ]).catch(() => '');
        await apply(c, [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'spire' } },
          spireExecPod(SPIRE_POD),
        ]);
        if (!existing.trim()) {
          created.push(c);
          await apply(c, [
            {
              apiVersion: 'v1',
              kind: 'Service',
              metadata: { name: SPIRE_SERVER.bundleService, namespace: 'spire' },
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
            ['-n', 'spire', 'service', SPIRE_SERVER.bundleService],
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
      const spire = (args: string[], input?: string) => spireCli(c1, SPIRE_POD, args, input);
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
      await deleteSpirePods(SPIRE_POD);
      for (const c of created) {
        await kubectl(c, [
          'delete',
          'service',
          '-n',
          'spire',
          SPIRE_SERVER.bundleService,
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

  it('starts the real cert-manager controller once its CRDs are Established; it issues from a CA ClusterIssuer and stops when the CRDs go', async () => {
    const crds = upstreamCrds();
    const crdNames = crds.map((c) => (c.metadata as { name: string }).name);
    const selfSigned = `rig-selftest-${RUN}-selfsigned`;
    const caIssuer = `rig-selftest-${RUN}-ca`;
    const root = `rig-selftest-${RUN}-root`;
    const leaf = 'leaf';
    const leafDns = `leaf.${NS}.svc.cluster.local`;
    const exists = async (c: ClusterLayout, args: string[]) =>
      (await kubectl(c, ['get', ...args, '--ignore-not-found', '-o', 'name'])).trim() !== '';

    await Promise.all(
      rig.clusters.map(async (c) => {
        // The action may have installed cert-manager on this rig already: then only issue.
        const hadCrds = await exists(c, ['crd', 'certificates.cert-manager.io']);
        const hadNs = await exists(c, ['namespace', 'cert-manager']);
        let crdsDeleted = false;
        try {
          if (!hadCrds) {
            const before = await componentStatus(c, CERT_MANAGER_CONTROLLER);
            assert.equal(before.pid, undefined, `${c.name}: no cert-manager before its CRDs`);
            assert.match(before.idle ?? '', /waits for CRDs: certificates\.cert-manager\.io/);
            assert.equal(before.healthy, true);
            await kubectl(
              c,
              ['apply', '--server-side', '--field-manager=rig-selftest', '-f', '-'],
              crds.map((o) => JSON.stringify(o)).join('\n'),
            );
          }
          const pid = await eventually(`${c.name} cert-manager controller`, 30_000, async () => {
            const row = await componentStatus(c, CERT_MANAGER_CONTROLLER);
            return row.healthy ? row.pid : undefined;
          });
          if (!hadCrds) {
            assert.match(
              readFileSync(rig.controllerLog, 'utf8'),
              new RegExp(
                `${c.name} ${CERT_MANAGER_CONTROLLER} started pid ${pid} \\(cert-manager CRDs are Established\\)`,
              ),
            );
          }
          if (!hadNs) {
            await apply(c, [
              { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cert-manager' } },
            ]);
          }
          await apply(c, [
            {
              apiVersion: 'cert-manager.io/v1',
              kind: 'ClusterIssuer',
              metadata: { name: selfSigned },
              spec: { selfSigned: {} },
            },
            {
              apiVersion: 'cert-manager.io/v1',
              kind: 'Certificate',
              metadata: { name: root, namespace: 'cert-manager' },
              spec: {
                isCA: true,
                commonName: `rig selftest root ${c.trustDomain}`,
                secretName: root,
                privateKey: { algorithm: 'ECDSA', size: 256 },
                issuerRef: { group: 'cert-manager.io', kind: 'ClusterIssuer', name: selfSigned },
              },
            },
            {
              apiVersion: 'cert-manager.io/v1',
              kind: 'ClusterIssuer',
              metadata: { name: caIssuer },
              spec: { ca: { secretName: root } },
            },
            {
              apiVersion: 'cert-manager.io/v1',
              kind: 'Certificate',
              metadata: { name: leaf, namespace: NS },
              spec: {
                secretName: leaf,
                dnsNames: [leafDns],
                usages: ['server auth', 'client auth'],
                issuerRef: { group: 'cert-manager.io', kind: 'ClusterIssuer', name: caIssuer },
              },
            },
          ]);
          const ready = ['--for=condition=Ready', '--timeout=90s'];
          await kubectl(c, ['wait', ...ready, `clusterissuer/${selfSigned}`]);
          await kubectl(c, ['wait', ...ready, '-n', 'cert-manager', `certificate/${root}`]);
          await kubectl(c, ['wait', ...ready, `clusterissuer/${caIssuer}`]);
          await kubectl(c, ['wait', ...ready, '-n', NS, `certificate/${leaf}`]);

          const secret = async (ns: string, name: string) => {
            const s = await getJson<{ type: string; data: Record<string, string> }>(c, [
              '-n',
              ns,
              'secret',
              name,
            ]);
            assert.equal(s.type, 'kubernetes.io/tls');
            return (key: string) => Buffer.from(s.data[key] ?? '', 'base64').toString('utf8');
          };
          const rootSecret = await secret('cert-manager', root);
          const leafSecret = await secret(NS, leaf);
          const rootCert = new X509Certificate(rootSecret('tls.crt'));
          const leafCert = new X509Certificate(leafSecret('tls.crt'));
          assert.equal(rootCert.ca, true, `${c.name} root is a CA`);
          assert.ok(rootCert.checkIssued(rootCert) && rootCert.verify(rootCert.publicKey));
          assert.equal(leafCert.ca, false);
          assert.ok(leafCert.checkIssued(rootCert), `${c.name} leaf issued by the root`);
          assert.ok(leafCert.verify(rootCert.publicKey), `${c.name} leaf signed by the root key`);
          assert.equal(leafCert.subjectAltName, `DNS:${leafDns}`);
          assert.equal(
            new X509Certificate(leafSecret('ca.crt')).fingerprint256,
            rootCert.fingerprint256,
          );
          assert.ok(leafCert.checkPrivateKey(createPrivateKey(leafSecret('tls.key'))));

          if (!hadCrds) {
            // As the action's cleanup does: the controller must not outlive its CRDs.
            // --wait=false: kube-apiserver's CRD finalizer fails with "storage is
            // (re)initializing" when a CRD goes seconds after it came, and its next attempt
            // polls a minute per CRD; waiting on the delete itself timed out in CI.
            await kubectl(c, ['delete', 'crd', ...crdNames, '--ignore-not-found', '--wait=false']);
            crdsDeleted = true;
            await eventually(`${c.name} cert-manager controller to stop`, 30_000, async () => {
              const row = await componentStatus(c, CERT_MANAGER_CONTROLLER);
              return row.pid === undefined && row.healthy && row.idle ? true : undefined;
            });
            assert.match(
              readFileSync(rig.controllerLog, 'utf8'),
              new RegExp(`${c.name} ${CERT_MANAGER_CONTROLLER} stopped pid ${pid} `),
            );
            await eventually(`${c.name} cert-manager CRDs to be gone`, 5 * 60_000, async () =>
              (
                await kubectl(c, ['get', 'crd', ...crdNames, '--ignore-not-found', '-o', 'name'])
              ).trim() === ''
                ? true
                : undefined,
            );
          }
        } finally {
          const quiet = (args: string[]) => kubectl(c, args).catch(() => '');
          if (!crdsDeleted) {
            await quiet(['delete', '-n', NS, 'certificate', leaf, '--ignore-not-found']);
            await quiet([
              'delete',
              '-n',
              'cert-manager',
              'certificate',
              root,
              '--ignore-not-found',
            ]);
            await quiet(['delete', 'clusterissuer', selfSigned, caIssuer, '--ignore-not-found']);
          }
          await quiet(['delete', '-n', 'cert-manager', 'secret', root, '--ignore-not-found']);
          await quiet(['delete', '-n', NS, 'secret', leaf, '--ignore-not-found']);
          if (!hadCrds && !crdsDeleted) {
            await quiet(['delete', 'crd', ...crdNames, '--ignore-not-found']);
          }
          if (!hadNs) {
            await quiet([
              'delete',
              'namespace',
              'cert-manager',
              '--wait=false',
              '--ignore-not-found',
            ]);
          }
        }
      }),
    );
  });

  it('registers a pod that federates with the other trust domain through the rig’s k8s-workload-registrar', async () => {
    const pod = `rig-selftest-registrar-${RUN}`;
    const sa = 'federated';
    const otherTd = c2.trustDomain;
    const id = `spiffe://${c1.trustDomain}/ns/${NS}/sa/${sa}`;
    const entries = (args: string[]) => spireCli(c1, pod, ['entry', 'show', ...args]);
    let bundleSet = false;
    try {
      for (const c of rig.clusters) {
        assert.ok((await componentStatus(c, 'k8s-workload-registrar')).pid, `${c.name} registrar`);
        await apply(c, [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'spire' } },
          spireExecPod(pod),
        ]);
      }
      for (const c of rig.clusters) {
        await kubectl(c, ['-n', 'spire', 'wait', '--for=condition=Ready', `pod/${pod}`]);
      }
      // The registrar creates node entries by itself, parented to the server.
      const nodes = await entries(['-parentID', `spiffe://${c1.trustDomain}/spire/server`]);
      for (const n of c1.nodeNames) {
        assert.match(
          nodes,
          new RegExp(
            `SPIFFE ID +: spiffe://${c1.trustDomain}/spire-k8s-registrar/${c1.name}/node/${n}\\n`,
          ),
        );
      }

      // An entry may only federate with a trust domain whose bundle the server holds: the
      // action's bundle exchange, one way.
      const listed = await spireCli(c1, pod, ['bundle', 'list']);
      if (!new RegExp(`^\\* spiffe://${otherTd.replace(/\./g, '\\.')}$`, 'm').test(listed)) {
        const otherBundle = await spireCli(c2, pod, ['bundle', 'show']);
        await spireCli(c1, pod, ['bundle', 'set', '-id', `spiffe://${otherTd}`], otherBundle);
        bundleSet = true;
      }

      await apply(c1, [
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: NS } },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: 'federated',
            namespace: NS,
            annotations: { 'spiffe.io/federatesWith': otherTd },
          },
          spec: {
            serviceAccountName: sa,
            containers: [{ name: 'app', image: 'registry.example/rig-selftest:1' }],
          },
        },
      ]);
      await kubectl(c1, ['-n', NS, 'wait', '--for=condition=Ready', 'pod/federated']);
      const node = (
        await getJson<{ spec: { nodeName: string } }>(c1, ['-n', NS, 'pod', 'federated'])
      ).spec.nodeName;
      const shown = await eventually(`entry ${id}`, 30_000, async () => {
        const out = await entries(['-spiffeID', id]);
        return /Found 1 entry/.test(out) ? out : undefined;
      });
      assert.match(shown, new RegExp(`FederatesWith +: ${otherTd.replace(/\./g, '\\.')}\\n`));
      assert.match(
        shown,
        new RegExp(
          `Parent ID +: spiffe://${c1.trustDomain}/spire-k8s-registrar/${c1.name}/node/${node}\\n`,
        ),
      );
      assert.match(shown, new RegExp(`Selector +: k8s:ns:${NS}\\n`));
      assert.match(shown, /Selector +: k8s:pod-name:federated\n/);

      // A deleted pod takes its entry with it (and frees the bundle for deletion below).
      await kubectl(c1, ['-n', NS, 'delete', 'pod', 'federated', '--wait=true', '--timeout=60s']);
      await eventually(`entry ${id} removed`, 30_000, async () =>
        /Found 0 entries/.test(await entries(['-spiffeID', id])) ? true : undefined,
      );
    } finally {
      if (bundleSet) {
        await spireCli(c1, pod, ['bundle', 'delete', '-id', `spiffe://${otherTd}`]).catch(
          (err: Error) => console.log(`bundle delete: ${err.message}`),
        );
      }
      await deleteSpirePods(pod);
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
