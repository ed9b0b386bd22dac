// Profile current for real: the built action runs `all` with `profile: current` against two rig
// clusters whose every namespace of the run has its pods on a real node (test/rig/node). SPIRE
// 1.15.3 servers run with the SPIRE Controller Manager 0.7.0 beside them (webhook included) from
// what the action applied, agents attest workloads the controller manager registered from the
// ClusterSPIFFEID, and istiod and the proxies are the Istio the rig built (1.32 development, set
// as istio-version; the summary names it as an override of the pin) with native sidecars. Then
// every verify check, traffic and certificate chains included, must pass, and `cleanup` must
// leave nothing labelled. Same rig instance as mesh-on-real-nodes (taken down first and after).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CURRENT_REAL_NODES_RIG, startIsolatedRig, type IsolatedRig } from '../rig/isolated-rig.ts';
import { rigBinaries } from '../rig/local-inputs.ts';
import { RIG_IMAGES, realNodeName } from '../rig/real-nodes.ts';
import { assertWholeMeshProven } from './mesh-proof.ts';
import { explain, runAction, type ActionRun } from '../../__tests__/helpers/run-action.ts';
import { kubectlJson, kubectlList, labelledObjects } from './labelled.ts';
import { PROFILE_TABLE } from '../../src/config/profiles.ts';

interface Check {
  name: string;
  ok: boolean;
  reason: string;
  status?: string;
}
interface Result {
  ok: boolean;
  profile: string;
  versions: Record<string, { version: string; pin: string }>;
  phases: { phase: string; ok: boolean; checks: Check[] }[];
}

let rig: IsolatedRig;
let kubectlBin = '';

const resultOf = (r: ActionRun) => JSON.parse(r.outputs.result ?? '{}') as Result;
const getJson = (context: string, args: string[]) =>
  kubectlJson(kubectlBin, rig.kubeconfigFile, context, args);

interface Container {
  name: string;
  image: string;
  restartPolicy?: string;
}
interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName: string; containers: Container[]; initContainers?: Container[] };
  status: {
    phase?: string;
    containerStatuses?: { name: string; ready: boolean }[];
    initContainerStatuses?: { name: string; ready: boolean }[];
  };
}
const podsOf = async (context: string, namespace: string): Promise<Pod[]> =>
  ((await getJson(context, ['-n', namespace, 'get', 'pods'])) as { items: Pod[] }).items.filter(
    (p) => !p.metadata.deletionTimestamp,
  );

before(async () => {
  kubectlBin = rigBinaries().kubectl;
  rig = await startIsolatedRig(CURRENT_REAL_NODES_RIG);
});

after(() => rig?.stop());

test('profile current on real nodes: every verify check runs and passes, traffic and chains included', async () => {
  const r = await runAction(rig.inputs('all'));
  assert.equal(r.code, 0, explain(r));
  const result = resultOf(r);
  assert.equal(result.profile, 'current');
  assertWholeMeshProven(result);
  // The pins it runs, and what it runs instead of a pin, said as such.
  const pins = PROFILE_TABLE.current.pins;
  assert.deepEqual(result.versions.spire, { version: '1.15.3', pin: pins.spire });
  assert.deepEqual(result.versions.spireControllerManager, {
    version: '0.7.0',
    pin: pins.spireControllerManager,
  });
  const istio = result.versions.istio?.version ?? '';
  assert.match(
    r.summary,
    new RegExp(`Istio \\*\\*${istio.replace(/\./g, '\\.')}\\*\\* \\(instead of the pin`),
  );
  assert.match(
    r.summary,
    /\| leaf \| foo\.com \|[^\n]*\| spiffe:\/\/foo\.com\/ns\/sleep\/sa\/sleep \|/,
  );
  assert.match(r.summary, /\| v1 \| cluster-1 \| [1-9]/);
  assert.match(r.summary, /\| v2 \| cluster-2 \| [1-9]/);
});

test('profile current on real nodes: the controller manager registers the pods, and sidecars are native', async () => {
  const proxyImage = `${RIG_IMAGES.istioHub}/proxyv2:${rig.artifacts.versions.istio}`;
  for (const [i, context] of rig.contexts.entries()) {
    const node = realNodeName(rig.layout.clusters[i]!);
    // The controller manager runs in the server's pod, from the image the profile pins.
    const [server] = (await podsOf(context, 'spire')).filter(
      (p) => p.metadata.name === 'spire-server-0',
    );
    assert.ok(server, `${context}: no spire-server-0`);
    assert.equal(server.spec.nodeName, node);
    assert.equal(
      server.spec.containers.find((c) => c.name === 'spire-controller-manager')?.image,
      'ghcr.io/spiffe/spire-controller-manager:0.7.0',
    );
    assert.ok(
      server.status.containerStatuses?.every((c) => c.ready),
      `${context}: ${JSON.stringify(server.status.containerStatuses)}`,
    );
    // It keeps its webhook's caBundle itself (the action never sets it): set means it ran.
    const webhook = (await kubectlList(kubectlBin, rig.kubeconfigFile, context, [
      'get',
      'validatingwebhookconfigurations',
    ])) as unknown as {
      metadata: { name: string };
      webhooks?: { clientConfig: { caBundle?: string } }[];
    }[];
    const spireHooks = webhook.filter((w) => w.metadata.name.includes('spire'));
    assert.ok(
      spireHooks.length > 0 &&
        spireHooks.every((w) => w.webhooks?.every((h) => Boolean(h.clientConfig.caBundle))),
      `${context}: the controller manager did not fill its webhook's caBundle`,
    );
    // The ClusterSPIFFEID selected the mesh's pods and the controller manager made their entries.
    const ids = (await kubectlList(kubectlBin, rig.kubeconfigFile, context, [
      'get',
      'clusterspiffeids',
    ])) as unknown as { status?: { stats?: { podsSelected?: number; entriesToSet?: number } } }[];
    assert.equal(ids.length, 1, context);
    assert.ok(
      (ids[0]!.status?.stats?.podsSelected ?? 0) > 0 &&
        (ids[0]!.status?.stats?.entriesToSet ?? 0) > 0,
      `${context}: ${JSON.stringify(ids[0]!.status)}`,
    );

    for (const namespace of ['istio-system', 'sleep', 'helloworld', 'bookinfo']) {
      for (const pod of await podsOf(context, namespace)) {
        const where = `${context} ${namespace}/${pod.metadata.name}`;
        assert.equal(pod.spec.nodeName, node, where);
        assert.equal(pod.status.phase, 'Running', where);
        const sidecar = pod.spec.initContainers?.find((c) => c.name === 'istio-proxy');
        const gateway = pod.spec.containers.find((c) => c.name === 'istio-proxy');
        if (namespace === 'istio-system') {
          if (!gateway) continue; // istiod
          // Gateways: istio-proxy is the pod's main container.
          assert.equal(gateway.image, proxyImage, where);
          continue;
        }
        // Native sidecar: an init container that keeps running.
        assert.ok(sidecar, `${where}: no istio-proxy init container`);
        assert.equal(sidecar.restartPolicy, 'Always', where);
        assert.equal(sidecar.image, proxyImage, where);
        assert.ok(
          pod.status.initContainerStatuses?.find((s) => s.name === 'istio-proxy')?.ready,
          `${where}: istio-proxy not ready`,
        );
      }
    }
  }
});

test('profile current on real nodes: cleanup leaves nothing labelled', async () => {
  const r = await runAction(rig.inputs('cleanup'));
  assert.equal(r.code, 0, explain(r));
  for (const context of rig.contexts)
    assert.deepEqual(
      (await labelledObjects(kubectlBin, rig.kubeconfigFile, context)).map(
        (o) => `${o.kind}/${o.metadata.name}`,
      ),
      [],
      context,
    );
});
