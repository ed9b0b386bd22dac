// The whole mesh for real: the built action runs `all` against two rig clusters whose every
// namespace of the run has its pods on a real node (kubelet, containerd, runc; test/rig/node).
// The SPIRE servers, agents and registrar run from the ConfigMaps the action applied, istiod
// 1.22.1 serves the injection webhook the API server calls, and each injected pod runs
// pilot-agent and (upstream) Envoy with the spec istiod gave it. Then `verify` must pass every
// check, traffic and certificate chains included, and five faults must each turn it red with
// their own reason. MESH_RIG_KEEP=1 leaves the rig up afterwards.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REAL_NODES_RIG, startIsolatedRig, type IsolatedRig } from '../rig/isolated-rig.ts';
import { createCa } from '../rig/certs.ts';
import { rigBinaries } from '../rig/local-inputs.ts';
import { RIG_IMAGES, realNodeName } from '../rig/real-nodes.ts';
import { assertWholeMeshProven } from './mesh-proof.ts';
import { explain, runAction, type ActionRun } from '../../__tests__/helpers/run-action.ts';
import { kubectlJson, spireServerExec } from './labelled.ts';

const execFileP = promisify(execFile);
const CONTEXTS = ['cluster-1', 'cluster-2'];
const PROXY_IMAGE = `${RIG_IMAGES.istioHub}/proxyv2:1.22.1`;

let rig: IsolatedRig;
let kubeconfigFile = '';
let kubectlBin = '';

interface Check {
  name: string;
  cluster: string;
  ok: boolean;
  reason: string;
  status?: string;
}
interface Result {
  ok: boolean;
  phases: { phase: string; ok: boolean; checks: Check[] }[];
}

const inputs = (phase: string, extra: Record<string, string> = {}) => ({
  ...rig.inputs(phase),
  ...extra,
});
const checksOf = (r: ActionRun): Check[] =>
  (JSON.parse(r.outputs.result ?? '{}') as Result).phases?.flatMap((p) => p.checks) ?? [];

async function kubectl(context: string, args: string[], stdin?: string): Promise<string> {
  const argv = ['--kubeconfig', kubeconfigFile, '--context', context, ...args];
  if (stdin === undefined) return (await execFileP(kubectlBin, argv)).stdout;
  return new Promise((resolve, reject) => {
    const child = execFile(kubectlBin, argv, (err, stdout, stderr) =>
      err
        ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr || err.message}`))
        : resolve(stdout),
    );
    child.stdin?.end(stdin);
  });
}
const getJson = (context: string, args: string[]) =>
  kubectlJson(kubectlBin, kubeconfigFile, context, args);

async function rollout(context: string, namespace: string, deployment: string): Promise<void> {
  await kubectl(context, [
    '-n',
    namespace,
    'rollout',
    'status',
    `deployment/${deployment}`,
    '--timeout=180s',
  ]);
}

/** Runs `verify` and returns it with the failed checks whose name starts with `name`. */
async function verifyRed(
  name: string,
  extra: Record<string, string> = {},
): Promise<{ run: ActionRun; failed: Check[] }> {
  const run = await runAction(inputs('verify', extra));
  assert.notEqual(run.code, 0, `verify passed with the fault in place:\n${run.summary}`);
  const failed = checksOf(run).filter((c) => c.name.startsWith(name) && !c.ok);
  assert.ok(failed.length > 0, `no failed "${name}" check:\n${explain(run)}`);
  return { run, failed };
}

/** After a fault is undone: `verify` of these checks passes again (the mesh may take seconds). */
async function verifyGreen(checks: string): Promise<void> {
  let last: ActionRun | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    last = await runAction(inputs('verify', { 'verify-checks': checks }));
    if (last.code === 0) return;
    await new Promise((r) => setTimeout(r, 3000));
  }
  assert.fail(`verify (${checks}) still red after the fault was undone:\n${explain(last!)}`);
}

before(async () => {
  kubectlBin = rigBinaries().kubectl;
  // A rig left by an earlier run (its nodes too) goes first: this test starts from nothing.
  rig = await startIsolatedRig(REAL_NODES_RIG);
  kubeconfigFile = rig.kubeconfigFile;
});

after(() => rig?.stop());

test('all on real nodes: every verify check runs and passes, traffic and chains included', async () => {
  const r = await runAction(inputs('all'));
  assert.equal(r.code, 0, explain(r));
  const result = JSON.parse(r.outputs.result ?? '{}') as Result;
  assertWholeMeshProven(result);
  // The summary shows the proof: both chain tables (cert-manager root, SPIRE intermediate,
  // SPIFFE leaf) and answers from both clusters.
  assert.match(r.summary, /#### Certificate chain of sleep\/\S+ \(cluster-1\) ✅ pass/);
  assert.match(
    r.summary,
    /#### Certificate chain of bookinfo\/productpage-\S+ \(cluster-2\) ✅ pass/,
  );
  assert.match(
    r.summary,
    /\| leaf \| foo\.com \|[^\n]*\| spiffe:\/\/foo\.com\/ns\/sleep\/sa\/sleep \|/,
  );
  assert.match(
    r.summary,
    /\| intermediate \| foo\.com \|[^\n]*\| O=foo\.com, CN=mesh-federation root CA foo\.com \|/,
  );
  assert.match(r.summary, /\| v1 \| cluster-1 \| [1-9]/);
  assert.match(r.summary, /\| v2 \| cluster-2 \| [1-9]/);
  assert.match(r.summary, /\*\*Istio overlay\*\*/);
});

test('the pods are what the action applied and istiod injected, and every Envoy took every xDS update', async () => {
  const proxies: string[][] = CONTEXTS.map(() => []);
  for (const [i, context] of CONTEXTS.entries()) {
    const node = realNodeName(rig.layout.clusters[i]!);
    // The agent DaemonSet runs whole: agent, CSI driver and the registrar image the input chose.
    const agents = (await getJson(context, [
      '-n',
      'spire',
      'get',
      'pods',
      '-l',
      'app=spire-agent',
    ])) as {
      items: {
        spec: { nodeName: string; containers: { name: string; image: string }[] };
        status: { containerStatuses?: { name: string; ready: boolean }[] };
      }[];
    };
    assert.equal(agents.items.length, 1, context);
    const agent = agents.items[0]!;
    assert.equal(agent.spec.nodeName, node);
    assert.equal(
      agent.spec.containers.find((c) => c.name === 'node-driver-registrar')?.image,
      RIG_IMAGES.csiNodeDriverRegistrar,
    );
    assert.ok(
      agent.status.containerStatuses?.every((c) => c.ready),
      `${context}: agent pod not ready`,
    );
    // SPIRE and istiod run from what the action applied: its ConfigMaps and the CA it issued.
    const peer = i === 0 ? 'bar.com' : 'foo.com';
    const volumes = async (namespace: string, pod: string) =>
      (
        (await getJson(context, ['-n', namespace, 'get', 'pod', pod])) as {
          spec: { volumes: { configMap?: { name: string }; secret?: { secretName: string } }[] };
        }
      ).spec.volumes.flatMap((v) => [v.configMap?.name ?? [], v.secret?.secretName ?? []].flat());
    const server = await volumes('spire', 'spire-server-0');
    assert.ok(
      server.includes('spire-server') && server.includes('k8s-workload-registrar'),
      context,
    );
    const serverConf = (await getJson(context, [
      '-n',
      'spire',
      'get',
      'configmap',
      'spire-server',
    ])) as {
      data: Record<string, string>;
    };
    assert.match(serverConf.data['server.conf'] ?? '', new RegExp(`federates_with "${peer}"`));
    assert.match(serverConf.data['server.conf'] ?? '', /UpstreamAuthority "cert-manager"/);
    const istiod = (await getJson(context, [
      '-n',
      'istio-system',
      'get',
      'pods',
      '-l',
      'app=istiod',
    ])) as {
      items: { metadata: { name: string } }[];
    };
    assert.ok(
      (await volumes('istio-system', istiod.items[0]!.metadata.name)).includes('cacerts'),
      `${context}: istiod without the cacerts cert-manager issued`,
    );
    const remote = await kubectl(context, [
      '-n',
      'istio-system',
      'get',
      'secrets',
      '-l',
      'istio/multiCluster=true',
      '-o',
      'name',
    ]);
    assert.match(remote, /secret\//, `${context}: no remote secret`);
    const csiNode = (await getJson(context, ['get', 'csinode', node])) as {
      spec: { drivers?: { name: string }[] };
    };
    assert.ok(
      csiNode.spec.drivers?.some((d) => d.name === 'csi.spiffe.io'),
      `${context}: driver not registered`,
    );

    for (const namespace of ['istio-system', 'sleep', 'helloworld', 'bookinfo']) {
      const pods = (await getJson(context, ['-n', namespace, 'get', 'pods'])) as {
        items: {
          metadata: { name: string; deletionTimestamp?: string };
          spec: {
            nodeName: string;
            containers: { name: string; image: string }[];
            volumes?: { name: string; csi?: { driver: string } }[];
          };
          status: { phase?: string };
        }[];
      };
      // verify's north-south step replaced helloworld-v1: its old pod may still be going away.
      const live = pods.items.filter((p) => !p.metadata.deletionTimestamp);
      assert.deepEqual(
        live.filter((p) => p.status.phase !== 'Running').map((p) => p.metadata.name),
        [],
        `${context}: pods not running in ${namespace}`,
      );
      for (const pod of live) {
        const proxy = pod.spec.containers.find((c) => c.name === 'istio-proxy');
        if (!proxy) continue; // istiod
        proxies[i]!.push(
          `${namespace}/${pod.metadata.name.replace(/-[a-z0-9]+(-[a-z0-9]+)?$/, '')}`,
        );
        const where = `${context} ${namespace}/${pod.metadata.name}`;
        assert.equal(pod.spec.nodeName, node, where);
        assert.equal(proxy.image, PROXY_IMAGE, where);
        assert.ok(
          pod.spec.volumes?.some((v) => v.csi?.driver === 'csi.spiffe.io'),
          `${where}: no SPIFFE CSI volume from the spire template`,
        );
        const stats = await kubectl(context, [
          '-n',
          namespace,
          'exec',
          pod.metadata.name,
          '-c',
          'istio-proxy',
          '--',
          'pilot-agent',
          'request',
          'GET',
          'stats?filter=update_rejected',
        ]);
        const counters = [...stats.matchAll(/^(\S+update_rejected): (\d+)$/gm)];
        assert.ok(
          ['cluster_manager.cds.update_rejected', 'listener_manager.lds.update_rejected'].every(
            (n) => counters.some((m) => m[1] === n),
          ),
          `${where}: no cds/lds counters in ${stats}`,
        );
        assert.deepEqual(
          counters.filter((m) => m[2] !== '0').map((m) => m[0]),
          [],
          `${where}: Envoy rejected an xDS update`,
        );
      }
    }
  }
  // Both gateways everywhere, sleep and helloworld everywhere, Bookinfo on the second cluster.
  assert.deepEqual(
    proxies.map((p) => p.sort()),
    [
      [
        'helloworld/helloworld-v1',
        'istio-system/istio-eastwestgateway',
        'istio-system/istio-ingressgateway',
        'sleep/sleep',
      ],
      [
        'bookinfo/details-v1',
        'bookinfo/productpage-v1',
        'bookinfo/ratings-v1',
        'bookinfo/reviews-v1',
        'bookinfo/reviews-v2',
        'bookinfo/reviews-v3',
        'helloworld/helloworld-v2',
        'istio-system/istio-eastwestgateway',
        'istio-system/istio-ingressgateway',
        'sleep/sleep',
      ],
    ],
  );
});

test('fault: the east-west gateway scaled to zero fails east-west, naming the cluster not reached', async () => {
  const gateway = ['-n', 'istio-system', 'scale', 'deployment/istio-eastwestgateway'];
  await kubectl('cluster-2', [...gateway, '--replicas=0']);
  try {
    for (let i = 0; i < 120; i++) {
      const pods = [
        '-n',
        'istio-system',
        'get',
        'pods',
        '-l',
        'app=istio-eastwestgateway',
        '-o',
        'name',
      ];
      if (!(await kubectl('cluster-2', pods)).trim()) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const { failed } = await verifyRed('east-west traffic');
    assert.match(failed[0]!.reason, /no answer from v2 \(cluster-2\)|requests failed/);
  } finally {
    await kubectl('cluster-2', [...gateway, '--replicas=1']);
    await rollout('cluster-2', 'istio-system', 'istio-eastwestgateway');
  }
  await verifyGreen('east-west');
});

test('fault: a workload with a wrong service account fails identities', async () => {
  await kubectl('cluster-1', ['-n', 'helloworld', 'create', 'serviceaccount', 'intruder']);
  const account = (sa: string) => [
    '-n',
    'helloworld',
    'patch',
    'deployment/helloworld-v1',
    '-p',
    JSON.stringify({ spec: { template: { spec: { serviceAccountName: sa } } } }),
  ];
  await kubectl('cluster-1', account('intruder'));
  try {
    await rollout('cluster-1', 'helloworld', 'helloworld-v1');
    const { failed } = await verifyRed('identity helloworld/helloworld-v1-');
    assert.match(
      failed[0]!.reason,
      /^runs as service account intruder, not helloworld as the action deployed Deployment helloworld-v1: its identity is spiffe:\/\/foo\.com\/ns\/helloworld\/sa\/intruder/,
    );
  } finally {
    await kubectl('cluster-1', account('helloworld'));
    await rollout('cluster-1', 'helloworld', 'helloworld-v1');
    await kubectl('cluster-1', ['-n', 'helloworld', 'delete', 'serviceaccount', 'intruder']);
  }
  await verifyGreen('identities,east-west');
});

test('fault: STRICT mTLS refuses a client outside the mesh, and east-west says so', async () => {
  const strict = `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: mesh-rig-strict, namespace: helloworld}
spec: {mtls: {mode: STRICT}}
`;
  await kubectl('cluster-1', ['apply', '-f', '-'], strict);
  const outside = JSON.stringify({
    spec: { template: { metadata: { labels: { 'sidecar.istio.io/inject': 'false' } } } },
  });
  await kubectl('cluster-1', ['-n', 'sleep', 'patch', 'deployment/sleep', '-p', outside]);
  try {
    await rollout('cluster-1', 'sleep', 'sleep');
    const { run, failed } = await verifyRed('east-west traffic');
    // Envoy on helloworld's side resets a plaintext connection under STRICT.
    assert.match(failed[0]!.reason, /^all \d+ requests failed \(curl exit (56|52)/);
    const chain = checksOf(run).find((c) => c.name.startsWith('certificate chain sleep/'));
    assert.match(chain?.reason ?? '', /has no istio-proxy container: the pod is outside the mesh/);
  } finally {
    await kubectl('cluster-1', [
      '-n',
      'helloworld',
      'delete',
      'peerauthentication',
      'mesh-rig-strict',
    ]);
    await kubectl('cluster-1', [
      '-n',
      'sleep',
      'patch',
      'deployment/sleep',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/spec/template/metadata/labels/sidecar.istio.io~1inject"}]',
    ]);
    await rollout('cluster-1', 'sleep', 'sleep');
  }
  await verifyGreen('chain,east-west');
});

test('fault: a federated bundle removed from one server fails federation; the spire phase puts it back', async () => {
  await kubectl(
    'cluster-1',
    spireServerExec(['bundle', 'delete', '-id', 'spiffe://bar.com', '-mode', 'dissociate']),
  );
  // Without north-south: a helloworld-v1 pod it brings back would get no SVID, as SPIRE refuses
  // an entry federating with a trust domain it holds no bundle for, so its restore would wait
  // the whole timeout (and report just that).
  const { failed } = await verifyRed('federated bundle bar.com on foo.com', {
    'verify-checks': 'readiness,identities,federation,chain,east-west',
  });
  assert.match(
    failed[0]!.reason,
    /^missing bundle: foo\.com's server holds no bundle for bar\.com/,
  );
  const repair = await runAction(inputs('spire'));
  assert.equal(repair.code, 0, explain(repair));
  await verifyGreen('federation');
});

test('fault: cert-manager CA secret replaced by another root after SPIRE started fails the chain', async () => {
  const secret = [
    '-n',
    'cert-manager',
    'get',
    'secret',
    'mesh-root-ca',
    '-o',
    'jsonpath={.data.ca\\.crt}',
  ];
  const before = await kubectl('cluster-1', secret);
  const other = await createCa('mesh-federation root CA foo.com');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  await kubectl('cluster-1', [
    '-n',
    'cert-manager',
    'patch',
    'secret',
    'mesh-root-ca',
    '-p',
    JSON.stringify({
      data: { 'tls.crt': b64(other.cert), 'tls.key': b64(other.key), 'ca.crt': b64(other.cert) },
    }),
  ]);
  // cert-manager may issue yet another root over ours: either way the root SPIRE chains to is gone.
  assert.notEqual(await kubectl('cluster-1', secret), before);
  const { failed } = await verifyRed('certificate chain sleep/');
  assert.match(
    failed[0]!.reason,
    /^root is not the cert-manager CA: chain ends at "O=foo\.com, CN=mesh-federation root CA foo\.com" \(/,
  );
});

test('cleanup removes what the action made from the real clusters', async () => {
  const r = await runAction(inputs('cleanup'));
  assert.equal(r.code, 0, explain(r));
  for (const context of CONTEXTS) {
    const left = await kubectl(context, [
      'get',
      'namespaces',
      '-l',
      'app.kubernetes.io/managed-by=mesh-federation',
      '-o',
      'name',
    ]);
    assert.equal(left.trim(), '', `${context}: namespaces left: ${left}`);
  }
});
