// A rollout that times out says why its pods are not ready, not only how many are.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { waitForRollouts } from '../src/cluster/rollout.ts';
import { FakeCluster } from './helpers/fake-cluster.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';

const deployment: K8sObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'istio-eastwestgateway', namespace: 'istio-system', generation: 1 },
  spec: { replicas: 1, selector: { matchLabels: { app: 'istio-eastwestgateway' } } },
  status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 0 },
};

const pod = (name: string, labels: Record<string, string>, waiting: string): K8sObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'istio-system', labels },
  status: {
    phase: 'Pending',
    containerStatuses: [
      {
        name: 'istio-proxy',
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: waiting, message: 'Back-off pulling image "x"' } },
      },
    ],
  },
});

it('names the pull failure of the workload’s own pod when the rollout times out', async () => {
  const cluster = new FakeCluster('cluster-1', 50);
  cluster.seed(deployment);
  cluster.seed(pod('other-1', { app: 'istio-ingressgateway' }, 'CrashLoopBackOff'));
  cluster.seed(
    pod('istio-eastwestgateway-1', { app: 'istio-eastwestgateway' }, 'ImagePullBackOff'),
  );
  await assert.rejects(waitForRollouts(cluster.asClient(), [deployment]), (err: Error) => {
    assert.match(
      err.message,
      /istio-eastwestgateway: 0\/1 replicas ready; istio-eastwestgateway-1: istio-proxy: ImagePullBackOff: Back-off pulling image "x"/,
    );
    assert.doesNotMatch(err.message, /CrashLoopBackOff/);
    return true;
  });
});
