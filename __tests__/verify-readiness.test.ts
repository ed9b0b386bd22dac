import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import {
  analyzeReadiness,
  podReport,
  rolloutState,
  type EventObject,
  type PodObject,
  type WorkloadObject,
} from '../src/analyze/readiness.ts';

// Objects as `kubectl get -o yaml` shows them (trimmed to status-relevant fields).
const HELLO_V2 = parse(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: helloworld-v2
  namespace: helloworld
  generation: 1
spec:
  replicas: 1
  selector:
    matchLabels: {app: helloworld, version: v2}
status:
  observedGeneration: 1
  replicas: 1
  updatedReplicas: 1
  unavailableReplicas: 1
  conditions:
  - type: Available
    status: "False"
    reason: MinimumReplicasUnavailable
  - type: Progressing
    status: "True"
    reason: ReplicaSetUpdated
`) as WorkloadObject;

const HELLO_V2_POD = parse(`
apiVersion: v1
kind: Pod
metadata:
  name: helloworld-v2-7fd66fcfdc-6shtc
  namespace: helloworld
  labels: {app: helloworld, version: v2, pod-template-hash: 7fd66fcfdc}
status:
  phase: Pending
  conditions:
  - type: PodScheduled
    status: "False"
    reason: Unschedulable
    message: '0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.'
`) as PodObject;

const SLEEP = parse(`
kind: Deployment
metadata: {name: sleep, namespace: sleep, generation: 2}
spec:
  replicas: 1
  selector: {matchLabels: {app: sleep}}
status:
  observedGeneration: 2
  replicas: 1
  updatedReplicas: 1
  readyReplicas: 1
  availableReplicas: 1
`) as WorkloadObject;

const SLEEP_POD = parse(`
metadata:
  name: sleep-86bfc4d596-4jf87
  namespace: sleep
  labels: {app: sleep, pod-template-hash: 86bfc4d596}
status:
  phase: Running
  conditions:
  - {type: PodScheduled, status: "True"}
  - {type: Ready, status: "True"}
  initContainerStatuses:
  - name: istio-proxy
    ready: true
    restartCount: 0
    started: true
    state: {running: {startedAt: "2026-11-28T11:00:00Z"}}
  containerStatuses:
  - name: sleep
    ready: true
    restartCount: 0
    state: {running: {startedAt: "2026-11-28T11:00:02Z"}}
`) as PodObject;

const SPIRE_AGENT = parse(`
kind: DaemonSet
metadata: {name: spire-agent, namespace: spire, generation: 1}
spec:
  selector: {matchLabels: {app: spire-agent}}
status:
  observedGeneration: 1
  currentNumberScheduled: 3
  desiredNumberScheduled: 3
  numberAvailable: 3
  numberReady: 3
  updatedNumberScheduled: 3
`) as WorkloadObject;

const SPIRE_SERVER = parse(`
kind: StatefulSet
metadata: {name: spire-server, namespace: spire, generation: 1}
spec:
  replicas: 1
  selector: {matchLabels: {app: spire-server}}
  updateStrategy: {type: RollingUpdate}
status:
  observedGeneration: 1
  replicas: 1
  currentReplicas: 1
  updatedReplicas: 1
  readyReplicas: 0
  currentRevision: spire-server-5c7d8f9b6
  updateRevision: spire-server-5c7d8f9b6
`) as WorkloadObject;

const SPIRE_SERVER_POD = parse(`
metadata:
  name: spire-server-0
  namespace: spire
  labels: {app: spire-server, statefulset.kubernetes.io/pod-name: spire-server-0}
status:
  phase: Running
  conditions:
  - {type: Ready, status: "False", reason: ContainersNotReady, message: "containers with unready status: [spire-server]"}
  containerStatuses:
  - name: spire-server
    ready: false
    restartCount: 6
    lastState:
      terminated: {exitCode: 1, reason: Error, finishedAt: "2026-11-28T11:58:00Z"}
    state:
      waiting:
        reason: CrashLoopBackOff
        message: back-off 5m0s restarting failed container=spire-server pod=spire-server-0_spire(1f2e3d4c)
  - name: k8s-workload-registrar
    ready: true
    restartCount: 0
    state: {running: {startedAt: "2026-11-28T11:00:00Z"}}
`) as PodObject;

const EVENTS = parse(`
- involvedObject: {kind: Pod, name: helloworld-v2-7fd66fcfdc-6shtc, namespace: helloworld}
  type: Warning
  reason: FailedScheduling
  message: '0/3 nodes are available: 3 Insufficient memory.'
  count: 12
  lastTimestamp: "2026-11-28T11:59:00Z"
- involvedObject: {kind: ReplicaSet, name: helloworld-v2-7fd66fcfdc, namespace: helloworld}
  type: Normal
  reason: SuccessfulCreate
  message: 'Created pod: helloworld-v2-7fd66fcfdc-6shtc'
  lastTimestamp: "2026-11-28T11:12:00Z"
- involvedObject: {kind: Deployment, name: helloworld-v2, namespace: helloworld}
  type: Normal
  reason: ScalingReplicaSet
  message: Scaled up replica set helloworld-v2-7fd66fcfdc to 1
  lastTimestamp: "2026-11-28T11:11:59Z"
- involvedObject: {kind: Pod, name: helloworld-v1-6bb5b589d6-jq4gn, namespace: helloworld}
  type: Warning
  reason: Unhealthy
  message: 'Readiness probe failed'
  lastTimestamp: "2026-11-28T11:59:30Z"
- involvedObject: {kind: Pod, name: spire-server-0, namespace: spire}
  type: Warning
  reason: BackOff
  message: Back-off restarting failed container spire-server in pod spire-server-0_spire(1f2e3d4c)
  count: 30
  lastTimestamp: "2026-11-28T11:58:30Z"
`) as EventObject[];

describe('analyzeReadiness', () => {
  it('passes ready workloads and explains the ones that are not', () => {
    const checks = analyzeReadiness({
      cluster: 'cluster-2',
      deployments: [HELLO_V2, SLEEP],
      daemonSets: [SPIRE_AGENT],
      statefulSets: [SPIRE_SERVER],
      pods: [HELLO_V2_POD, SLEEP_POD, SPIRE_SERVER_POD],
      events: EVENTS,
    });
    assert.deepEqual(
      checks.map((c) => [c.name, c.ok, c.reason]),
      [
        [
          'Deployment helloworld/helloworld-v2',
          false,
          '0/1 replicas ready; helloworld-v2-7fd66fcfdc-6shtc: Unschedulable: 0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.',
        ],
        ['Deployment sleep/sleep', true, '1/1 replicas ready'],
        ['DaemonSet spire/spire-agent', true, '3/3 pods ready'],
        [
          'StatefulSet spire/spire-server',
          false,
          '0/1 replicas ready; spire-server-0: spire-server: CrashLoopBackOff: back-off 5m0s restarting failed container=spire-server pod=spire-server-0_spire(1f2e3d4c)',
        ],
      ],
    );
    const hello = checks[0]?.details as {
      pods: unknown[];
      events: { reason: string; object: string }[];
    };
    assert.deepEqual(hello.pods, [
      {
        name: 'helloworld-v2-7fd66fcfdc-6shtc',
        phase: 'Pending',
        restarts: 0,
        reasons: [
          'Unschedulable: 0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.',
        ],
      },
    ]);
    // Only events about this workload, its ReplicaSet and its pods; warnings first, then newest.
    assert.deepEqual(
      hello.events.map((e) => `${e.object} ${e.reason}`),
      [
        'Pod/helloworld-v2-7fd66fcfdc-6shtc FailedScheduling',
        'ReplicaSet/helloworld-v2-7fd66fcfdc SuccessfulCreate',
        'Deployment/helloworld-v2 ScalingReplicaSet',
      ],
    );
    const server = checks[3]?.details as { pods: { reasons: string[]; restarts: number }[] };
    assert.equal(server.pods[0]?.restarts, 6);
    assert.deepEqual(server.pods[0]?.reasons.slice(1), [
      'spire-server: restarted 6 time(s) (last: Error, exit code 1)',
    ]);
  });

  it('names the webhook failure when the ReplicaSet could not create any pod', () => {
    const istiod = parse(`
metadata: {name: istio-ingressgateway, namespace: istio-system, generation: 1}
spec: {replicas: 1, selector: {matchLabels: {app: istio-ingressgateway}}}
status: {observedGeneration: 1, replicas: 0, conditions: [{type: Progressing, status: "True", reason: NewReplicaSetCreated}]}
`) as WorkloadObject;
    const events = parse(`
- involvedObject: {kind: ReplicaSet, name: istio-ingressgateway-5696596bd, namespace: istio-system}
  type: Warning
  reason: FailedCreate
  message: 'Error creating: Internal error occurred: failed calling webhook "namespace.sidecar-injector.istio.io": failed to call webhook: Post "https://istiod.istio-system.svc:443/inject?timeout=10s": no endpoints available for service "istiod"'
  eventTime: null
  lastTimestamp: "2026-11-28T11:40:00Z"
`) as EventObject[];
    const [c] = analyzeReadiness({ cluster: 'cluster-1', deployments: [istiod], pods: [], events });
    assert.equal(c?.ok, false);
    assert.match(
      c?.reason ?? '',
      /^0\/1 replicas updated; ReplicaSet\/istio-ingressgateway-5696596bd: FailedCreate: Error creating: Internal error occurred: failed calling webhook/,
    );
  });

  it('fails an expected workload that does not exist', () => {
    const checks = analyzeReadiness({
      cluster: 'cluster-1',
      deployments: [SLEEP],
      pods: [SLEEP_POD],
      events: [],
      expected: [
        { kind: 'Deployment', namespace: 'sleep', name: 'sleep' },
        { kind: 'StatefulSet', namespace: 'spire', name: 'spire-server' },
      ],
    });
    assert.deepEqual(
      checks.map((c) => [c.name, c.ok, c.reason]),
      [
        ['Deployment sleep/sleep', true, '1/1 replicas ready'],
        ['StatefulSet spire/spire-server', false, 'StatefulSet not found'],
      ],
    );
  });

  it('reports pulls failing in a native sidecar (init container) and reads Date timestamps', () => {
    const pod = parse(`
metadata:
  name: helloworld-v1-6bb5b589d6-jq4gn
  namespace: helloworld
  labels: {app: helloworld, version: v1}
status:
  phase: Pending
  conditions:
  - {type: Ready, status: "False", reason: ContainersNotReady}
  initContainerStatuses:
  - name: istio-proxy
    ready: false
    restartCount: 0
    state:
      waiting: {reason: ImagePullBackOff, message: 'Back-off pulling image "docker.io/istio/proxyv2:1.22.1"'}
  containerStatuses:
  - name: helloworld
    ready: false
    restartCount: 0
    state: {waiting: {reason: PodInitializing}}
`) as PodObject;
    const deploy = parse(`
metadata: {name: helloworld-v1, namespace: helloworld, generation: 3}
spec: {replicas: 1, selector: {matchLabels: {app: helloworld, version: v1}}}
status: {observedGeneration: 3, replicas: 1, updatedReplicas: 1, unavailableReplicas: 1}
`) as WorkloadObject;
    // @kubernetes/client-node hands timestamps over as Date objects.
    const events: EventObject[] = [
      {
        involvedObject: {
          kind: 'Pod',
          name: 'helloworld-v1-6bb5b589d6-jq4gn',
          namespace: 'helloworld',
        },
        type: 'Warning',
        reason: 'Failed',
        message:
          'Failed to pull image "docker.io/istio/proxyv2:1.22.1": rpc error: code = NotFound',
        lastTimestamp: new Date('2026-11-28T11:30:00Z'),
      },
      {
        involvedObject: {
          kind: 'Pod',
          name: 'helloworld-v1-6bb5b589d6-jq4gn',
          namespace: 'helloworld',
        },
        type: 'Warning',
        reason: 'BackOff',
        message: 'Back-off pulling image "docker.io/istio/proxyv2:1.22.1"',
        lastTimestamp: new Date('2026-11-28T11:31:00Z'),
      },
    ];
    const [c] = analyzeReadiness({
      cluster: 'cluster-1',
      deployments: [deploy],
      pods: [pod],
      events,
    });
    assert.equal(
      c?.reason,
      '0/1 replicas ready; helloworld-v1-6bb5b589d6-jq4gn: init container istio-proxy: ImagePullBackOff: Back-off pulling image "docker.io/istio/proxyv2:1.22.1"',
    );
    const details = c?.details as {
      pods: { reasons: string[] }[];
      events: { reason: string; time: string }[];
    };
    assert.deepEqual(details.pods[0]?.reasons, [
      'init container istio-proxy: ImagePullBackOff: Back-off pulling image "docker.io/istio/proxyv2:1.22.1"',
      'helloworld: PodInitializing',
    ]);
    assert.deepEqual(
      details.events.map((e) => [e.reason, e.time]),
      [
        ['BackOff', '2026-11-28T11:31:00.000Z'],
        ['Failed', '2026-11-28T11:30:00.000Z'],
      ],
    );
  });

  it('keeps at most five events', () => {
    const events: EventObject[] = Array.from({ length: 9 }, (_, i) => ({
      involvedObject: { kind: 'Pod', name: 'spire-server-0', namespace: 'spire' },
      type: 'Warning',
      reason: `R${i}`,
      message: 'm',
      lastTimestamp: `2026-11-28T11:0${i}:00Z`,
    }));
    const [c] = analyzeReadiness({
      cluster: 'c',
      statefulSets: [SPIRE_SERVER],
      pods: [SPIRE_SERVER_POD],
      events,
    });
    const got = (c?.details as { events: { reason: string }[] }).events.map((e) => e.reason);
    assert.deepEqual(got, ['R8', 'R7', 'R6', 'R5', 'R4']);
  });
});

describe('rolloutState', () => {
  it('treats a Deployment scaled to zero as done (north-south scales v1 down)', () => {
    const zero = {
      ...SLEEP,
      spec: { ...SLEEP.spec, replicas: 0 },
      status: { observedGeneration: 2 },
    };
    assert.deepEqual(rolloutState('Deployment', zero), {
      done: true,
      reason: '0/0 replicas ready',
      desired: 0,
      ready: 0,
    });
  });

  it('waits for the controller to observe a new generation', () => {
    const stale = { ...SLEEP, metadata: { ...SLEEP.metadata, generation: 3 } };
    assert.equal(
      rolloutState('Deployment', stale).reason,
      'controller has not seen the latest spec',
    );
  });

  it('waits for old replicas to go away', () => {
    const rolling = { ...SLEEP, status: { ...SLEEP.status, replicas: 2 } };
    assert.equal(rolloutState('Deployment', rolling).reason, '1 old replica(s) still terminating');
  });

  it('fails a DaemonSet that schedules nowhere and one still updating', () => {
    assert.equal(
      rolloutState('DaemonSet', {
        ...SPIRE_AGENT,
        status: { observedGeneration: 1, desiredNumberScheduled: 0 },
      }).reason,
      'scheduled on no node (0 desired)',
    );
    assert.equal(
      rolloutState('DaemonSet', {
        ...SPIRE_AGENT,
        status: { ...SPIRE_AGENT.status, updatedNumberScheduled: 2 },
      }).reason,
      '2/3 pods updated',
    );
  });

  it('waits for a StatefulSet revision rollout', () => {
    const sts = {
      ...SPIRE_SERVER,
      status: {
        ...SPIRE_SERVER.status,
        readyReplicas: 1,
        updateRevision: 'spire-server-6d8e9fa7c',
      },
    };
    assert.equal(rolloutState('StatefulSet', sts).reason, 'rolling update still in progress');
  });

  it('gives no status a reason of its own', () => {
    assert.equal(rolloutState('Deployment', { metadata: { name: 'x' } }).reason, 'no status yet');
  });
});

describe('podReport', () => {
  it('is empty for a ready pod', () => {
    assert.deepEqual(podReport(SLEEP_POD).reasons, []);
  });

  it('names an OOM-killed container', () => {
    const pod: PodObject = {
      metadata: { name: 'istiod-68cfb86dbc-flj48' },
      status: {
        phase: 'Running',
        containerStatuses: [
          {
            name: 'discovery',
            ready: false,
            restartCount: 0,
            state: { terminated: { reason: 'OOMKilled', exitCode: 137 } },
          },
        ],
      },
    };
    assert.deepEqual(podReport(pod).reasons, ['discovery: OOMKilled (exit code 137)']);
  });
});
