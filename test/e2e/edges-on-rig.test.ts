// The built action against the rig where real clusters differ from a fresh
// one (issue 7): a cert-manager someone else installed (used, never relabelled
// or deleted), the refusal of `cert-manager-mode: install` over it, and
// NodePort clusters, where istiod learns the peers' east-west gateways only
// from meshNetworks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { up } from '../rig/rig.ts';
import { apiserverUrl, rigLayout } from '../rig/layout.ts';
import { startFaultProxy, throughProxies } from '../rig/fault-proxy.ts';
import { startArtifactServer, type ArtifactServer } from '../rig/artifact-server.ts';
import { certManagerManifest } from '../rig/cert-manager-manifest.ts';
import { rigActionInputs, rigBinaries } from '../rig/local-inputs.ts';
import { explain, runAction } from '../../__tests__/helpers/run-action.ts';

const run = promisify(execFile);
const CONTEXTS = ['cluster-1', 'cluster-2'];
const MANAGED_BY = 'app.kubernetes.io/managed-by';

let kubeconfig = '';
let dir = '';
let kubeconfigFile = '';
let foreignFile = '';
let kubectl = '';
let artifacts: ArtifactServer;

const inputs = (phase: string, extra: Record<string, string> = {}): Record<string, string> => ({
  ...rigActionInputs(phase, kubeconfig, CONTEXTS, artifacts),
  ...extra,
});

async function k(context: string, args: string[]): Promise<string> {
  const { stdout } = await run(
    kubectl,
    ['--kubeconfig', kubeconfigFile, '--context', context, ...args],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return stdout;
}

async function getJson<T>(context: string, args: string[]): Promise<T> {
  return JSON.parse(await k(context, [...args, '-o', 'json'])) as T;
}

interface Labelled {
  metadata: { labels?: Record<string, string> };
}

before(async () => {
  kubectl = rigBinaries().kubectl;
  const rig = await up();
  kubeconfig = fs.readFileSync(rig.kubeconfig, 'utf8');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-edges-'));
  kubeconfigFile = path.join(dir, 'kubeconfig');
  fs.writeFileSync(kubeconfigFile, kubeconfig, { mode: 0o600 });
  foreignFile = path.join(dir, 'their-cert-manager.yaml');
  fs.writeFileSync(foreignFile, certManagerManifest());
  artifacts = await startArtifactServer();
  const clean = await runAction(inputs('cleanup'));
  assert.equal(clean.code, 0, explain(clean));
});

after(async () => {
  await artifacts?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a cert-manager installed by someone else is used, never relabelled, and survives cleanup', async () => {
  // Installed as a platform team would, with its own field manager and no label of ours.
  for (const context of CONTEXTS)
    await k(context, [
      'apply',
      '--server-side',
      '--field-manager=platform-team',
      '-f',
      foreignFile,
    ]);
  try {
    const refused = await runAction(inputs('cert-manager', { 'cert-manager-mode': 'install' }));
    assert.equal(refused.code, 1, explain(refused));
    assert.match(
      refused.stdout,
      /cert-manager is already installed here, not by mesh-federation.*cert-manager-mode: existing/,
    );

    const r = await runAction(inputs('cert-manager,spire'));
    assert.equal(r.code, 0, explain(r));
    assert.match(r.summary, /using the cert-manager already installed/);
    for (const context of CONTEXTS) {
      const crd = await getJson<Labelled>(context, ['get', 'crd', 'certificates.cert-manager.io']);
      assert.equal(
        crd.metadata.labels?.[MANAGED_BY],
        undefined,
        `the CRD on ${context} was relabelled`,
      );
      const deployment = await getJson<Labelled>(context, [
        'get',
        'deployment',
        '-n',
        'cert-manager',
        'cert-manager',
      ]);
      assert.equal(deployment.metadata.labels?.[MANAGED_BY], undefined);
      const ns = await getJson<Labelled>(context, ['get', 'namespace', 'cert-manager']);
      assert.equal(
        ns.metadata.labels?.[MANAGED_BY],
        undefined,
        'their namespace is not taken over',
      );
      // Our CA was issued by their controller.
      const cert = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>(
        context,
        ['get', 'certificate', '-n', 'istio-system', 'cacerts'],
      );
      assert.ok(cert.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }

    const cleanup = await runAction(inputs('cleanup'));
    assert.equal(cleanup.code, 0, explain(cleanup));
    for (const context of CONTEXTS) {
      await k(context, ['get', 'crd', 'certificates.cert-manager.io']);
      await k(context, ['get', 'deployment', '-n', 'cert-manager', 'cert-manager']);
      const left = await k(context, [
        'get',
        'certificates',
        '-A',
        '-l',
        `${MANAGED_BY}=mesh-federation`,
        '-o',
        'name',
      ]);
      assert.equal(left.trim(), '', 'our own Certificates are gone');
    }
  } finally {
    for (const context of CONTEXTS)
      await k(context, ['delete', '--ignore-not-found', '--wait=true', '-f', foreignFile]);
  }
});

test('cert-manager-mode: existing without a cert-manager fails before changing anything', async () => {
  const r = await runAction(inputs('cert-manager', { 'cert-manager-mode': 'existing' }));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stdout, /cert-manager-mode is 'existing' but this cluster has no cert-manager/);
  for (const context of CONTEXTS) {
    const left = await k(context, [
      'get',
      'namespaces',
      '-l',
      `${MANAGED_BY}=mesh-federation`,
      '-o',
      'name',
    ]);
    assert.equal(left.trim(), '');
  }
});

test('a misspelt istio-overlay field fails naming the input before any cluster is touched', async () => {
  const overlay =
    'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  values:\n    pilot:\n      envv: {A: b}\n';
  const r = await runAction(inputs('all', { 'istio-overlay': overlay }));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stdout, /::error::Input 'istio-overlay'.*unknown field "envv"/);
  for (const context of CONTEXTS)
    assert.equal(
      (
        await k(context, ['get', 'namespaces', '-l', `${MANAGED_BY}=mesh-federation`, '-o', 'name'])
      ).trim(),
      '',
      `nothing applied on ${context}`,
    );
});

test('a CRD still being deleted (a cleanup just before, a slow finalizer) is waited out and created again, never taken for applied', async () => {
  const installed = await runAction(inputs('cert-manager'));
  assert.equal(installed.code, 0, explain(installed));
  const [context] = CONTEXTS as [string];
  // An Issuer with a finalizer nobody serves holds the CRD's deletion open, as a slow
  // controller does: the CRD is left terminating with our label and digest on it.
  const held = path.join(dir, 'held-issuer.yaml');
  fs.writeFileSync(
    held,
    YAML.stringify({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Issuer',
      metadata: { name: 'held', namespace: 'default', finalizers: ['example.com/hold'] },
      spec: { selfSigned: {} },
    }),
  );
  await k(context, ['apply', '-f', held]);
  await k(context, ['delete', 'crd', 'issuers.cert-manager.io', '--wait=false']);
  const crd = (): Promise<{ metadata: { deletionTimestamp?: string; labels?: object } }> =>
    getJson(context, ['get', 'crd', 'issuers.cert-manager.io']);
  assert.ok((await crd()).metadata.deletionTimestamp, 'the CRD is terminating');

  // The finalizer is let go 3 s after the run first reads the CRD: by then a run that took
  // the terminating CRD for applied has moved on.
  let released: Promise<string> | undefined;
  const layout = rigLayout();
  const proxies = await Promise.all(
    layout.clusters.map((c, i) =>
      startFaultProxy(c, {
        rate: 0,
        seed: i,
        maxFaults: 0,
        onRequest: (request) => {
          if (
            i === 0 &&
            !released &&
            /^GET \/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions\/issuers\.cert-manager\.io(\?|$)/.test(
              request,
            )
          )
            released = new Promise((resolve) => setTimeout(resolve, 3000)).then(() =>
              k(context, [
                'patch',
                'issuer',
                'held',
                '-n',
                'default',
                '--type=merge',
                '-p',
                '{"metadata":{"finalizers":null}}',
              ]),
            );
        },
      }),
    ),
  );
  try {
    const again = await runAction({
      ...rigActionInputs('cert-manager', throughProxies(kubeconfig, proxies), CONTEXTS, artifacts),
      'api-servers': layout.clusters.map(apiserverUrl).join(','),
      timeout: '90s',
    });
    assert.ok(released, 'the run read the CRD');
    await released;
    assert.equal(again.code, 0, explain(again));
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
  }
  const after = await crd();
  assert.equal(after.metadata.deletionTimestamp, undefined, 'the CRD was created again');
  assert.match(JSON.stringify(after.metadata.labels), /mesh-federation/);
  const clean = await runAction(inputs('cleanup'));
  assert.equal(clean.code, 0, explain(clean));
});

test('NodePort clusters: every istiod holds meshNetworks with each peer’s node address and east-west node port', async () => {
  const r = await runAction(inputs('cert-manager,spire,istio', { 'service-type': 'NodePort' }));
  assert.equal(r.code, 0, explain(r));
  try {
    const gateways: Record<string, { address: string; port: number }> = {};
    for (const context of CONTEXTS) {
      const svc = await getJson<{
        spec: { type: string; ports: { port: number; nodePort?: number }[] };
      }>(context, ['get', 'service', '-n', 'istio-system', 'istio-eastwestgateway']);
      assert.equal(svc.spec.type, 'NodePort');
      const nodePort = svc.spec.ports.find((p) => p.port === 15443)?.nodePort;
      const nodes = await getJson<{
        items: { status: { addresses: { type: string; address: string }[] } }[];
      }>(context, ['get', 'nodes']);
      const address = nodes.items[0]?.status.addresses.find(
        (a) => a.type === 'InternalIP',
      )?.address;
      assert.ok(nodePort && address);
      gateways[context] = { address, port: nodePort };
    }
    for (const context of CONTEXTS) {
      const cm = await getJson<{ data: { meshNetworks?: string } }>(context, [
        'get',
        'configmap',
        '-n',
        'istio-system',
        'istio',
      ]);
      const networks =
        (
          YAML.parse(cm.data.meshNetworks ?? '') as {
            networks?: Record<
              string,
              {
                endpoints: { fromRegistry: string }[];
                gateways: { address: string; port: number }[];
              }
            >;
          }
        ).networks ?? {};
      const byRegistry = Object.fromEntries(
        Object.values(networks).map((n) => [n.endpoints[0]?.fromRegistry, n.gateways[0]]),
      );
      for (const peer of CONTEXTS)
        assert.deepEqual(
          byRegistry[peer],
          gateways[peer],
          `${context}'s istiod knows ${peer}'s gateway`,
        );
    }
    const again = await runAction(inputs('istio', { 'service-type': 'NodePort' }));
    assert.equal(again.code, 0, explain(again));
    const phase = (
      JSON.parse(again.outputs.result ?? '{}') as {
        phases: { clusters: { created: number; changed: number }[] }[];
      }
    ).phases[0];
    assert.ok(
      phase?.clusters.every((c) => c.created === 0 && c.changed === 0),
      'a NodePort re-run changes nothing',
    );
  } finally {
    const clean = await runAction(inputs('cleanup'));
    assert.equal(clean.code, 0, explain(clean));
  }
});
