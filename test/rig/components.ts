// Command lines and config files of one cluster's processes: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok, a real SPIRE server, and the add-ons that the
// rig controller runs on the host in place of pods kwok only pretends to run: the cert-manager
// controller and SPIRE's k8s-workload-registrar.

import YAML from 'yaml';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import type { Binaries } from './binaries.ts';
import { moduleDir } from './gomod.ts';
import {
  FAKE_NODE_TAINT,
  flexVolumeDir,
  pkiPaths,
  SPIRE_BUNDLE_PORT,
  SPIRE_SERVER_PORT,
  type ClusterLayout,
} from './layout.ts';
import type { ProcessSpec } from './processes.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../../src/model/names.ts';

/** The API server's user towards kubelets (its --kubelet-client-certificate's CN). */
export const KUBELET_CLIENT_USER = 'kube-apiserver-kubelet-client';

/** Lets the API server use the kubelet API (exec, logs, port-forward) on webhook-authorizing kubelets. */
export function kubeletApiAdminBinding(): object {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'mesh-rig:apiserver-kubelet-client' },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'system:kubelet-api-admin',
    },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: KUBELET_CLIENT_USER }],
  };
}

export function etcdSpec(c: ClusterLayout, bin: Binaries): ProcessSpec {
  const client = `http://127.0.0.1:${c.ports.etcdClient}`;
  const peer = `http://127.0.0.1:${c.ports.etcdPeer}`;
  return {
    name: 'etcd',
    dir: c.dir,
    argv: [
      bin.etcd,
      `--name=${c.name}`,
      `--data-dir=${join(c.dir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${c.name}=${peer}`,
      // A throwaway test store: durability is not worth the fsync latency.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
  };
}

export function apiserverSpec(c: ClusterLayout, bin: Binaries): ProcessSpec {
  const p = pkiPaths(c);
  return {
    name: 'kube-apiserver',
    dir: c.dir,
    argv: [
      bin['kube-apiserver'],
      `--etcd-servers=http://127.0.0.1:${c.ports.etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${c.ports.apiserver}`,
      `--cert-dir=${join(c.dir, 'apiserver-certs')}`,
      `--tls-cert-file=${p.servingCert}`,
      `--tls-private-key-file=${p.servingKey}`,
      `--client-ca-file=${p.caCert}`,
      `--requestheader-client-ca-file=${p.frontProxyCaCert}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${p.frontProxyClientCert}`,
      `--proxy-client-key-file=${p.frontProxyClientKey}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${p.saPub}`,
      `--service-account-signing-key-file=${p.saKey}`,
      // Loopback ClusterIPs: the apiserver calls webhooks at ClusterIP:port (see controller.ts),
      // so even that traffic stays on this machine.
      `--service-cluster-ip-range=${c.serviceCidr}`,
      // The API rejects loopback addresses in Endpoints/EndpointSlices (ValidateEndpointIP),
      // so the `kubernetes` endpoint could never be written; don't try every 10 s.
      '--endpoint-reconciler-type=none',
      // Exec/logs go to the node's InternalIP: 127.0.0.1 where kwok serves, or a real node's
      // IP (test/rig/node). The API server authenticates as KUBELET_CLIENT_USER (bound to
      // system:kubelet-api-admin by the rig) and verifies the kubelet's serving certificate
      // against the cluster CA; kwok serves one too (kwokSpec).
      '--kubelet-preferred-address-types=InternalIP',
      `--kubelet-client-certificate=${p.kubeletClientCert}`,
      `--kubelet-client-key=${p.kubeletClientKey}`,
      `--kubelet-certificate-authority=${p.caCert}`,
      '--allow-privileged=true',
      '--profiling=false',
    ],
  };
}

function componentKubeconfigFlags(c: ClusterLayout): string[] {
  const kc = pkiPaths(c).kubeconfig;
  return [
    `--kubeconfig=${kc}`,
    `--authentication-kubeconfig=${kc}`,
    `--authorization-kubeconfig=${kc}`,
  ];
}

export function controllerManagerSpec(c: ClusterLayout, bin: Binaries, real = false): ProcessSpec {
  const p = pkiPaths(c);
  return {
    name: 'kube-controller-manager',
    dir: c.dir,
    argv: [
      bin['kube-controller-manager'],
      ...componentKubeconfigFlags(c),
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${c.ports.controllerManager}`,
      `--service-account-private-key-file=${p.saKey}`,
      `--root-ca-file=${p.caCert}`,
      '--use-service-account-credentials=true',
      `--cluster-signing-cert-file=${p.caCert}`,
      `--cluster-signing-key-file=${p.caKey}`,
      `--service-cluster-ip-range=${c.serviceCidr}`,
      // Pod IPs are loopback addresses, which the API refuses in EndpointSlices and Endpoints:
      // these controllers could only fail and retry. With real nodes (MESH_RIG_REAL) kube-proxy
      // and CoreDNS there need EndpointSlices of their pods (10.241.x.y): that controller runs
      // (and only fails, and retries, for Services whose pods are kwok's).
      real
        ? '--controllers=*,-endpoints-controller,-endpointslice-mirroring-controller'
        : '--controllers=*,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller',
      // Its default is /usr/libexec/kubernetes/kubelet-plugins/volume/exec, which it creates.
      `--flex-volume-plugin-dir=${flexVolumeDir(c)}`,
    ],
  };
}

export function schedulerSpec(c: ClusterLayout, bin: Binaries): ProcessSpec {
  return {
    name: 'kube-scheduler',
    dir: c.dir,
    argv: [
      bin['kube-scheduler'],
      ...componentKubeconfigFlags(c),
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${c.ports.scheduler}`,
    ],
  };
}

export function kwokConfigPath(c: ClusterLayout): string {
  return join(c.dir, 'kwok.yaml');
}

export function kwokSpec(c: ClusterLayout, bin: Binaries): ProcessSpec {
  return {
    name: 'kwok',
    dir: c.dir,
    argv: [
      bin.kwok,
      `--kubeconfig=${pkiPaths(c).kubeconfig}`,
      `--config=${kwokConfigPath(c)}`,
      // Only the rig's own fake nodes (nodeObject() sets this annotation): a real node
      // (test/rig/node) whose kubelet stops must go NotReady, not be taken over by kwok.
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--node-ip=127.0.0.1',
      `--node-port=${c.ports.kwok}`,
      // Without this kwok would listen on 0.0.0.0:<node-port>.
      `--server-address=127.0.0.1:${c.ports.kwok}`,
      // Signed by the cluster CA: the API server verifies kubelets (--kubelet-certificate-authority).
      `--tls-cert-file=${pkiPaths(c).kwokServingCert}`,
      `--tls-private-key-file=${pkiPaths(c).kwokServingKey}`,
      `--cidr=${c.podCidr}`,
      // No node Leases: after an API server restart kwok 0.8.0 kept failing to renew them
      // ("the object has been modified") and its nodes went NotReady for good. Node status
      // heartbeats (steadyHeartbeat) keep them Ready instead; those are patches, never stale.
      '--node-lease-duration-seconds=0',
    ],
  };
}

export function spireConfigPath(c: ClusterLayout): string {
  return join(c.dir, 'spire', 'server.conf');
}

export function spireSpec(c: ClusterLayout, bin: Binaries): ProcessSpec {
  return {
    name: 'spire-server',
    dir: join(c.dir, 'spire'),
    argv: [bin['spire-server'], 'run', '-config', spireConfigPath(c)],
  };
}

/** The kwok module whose stages match the built kwok binary (pinned in bin-build/kwok). */
function kwokModuleDir(): string {
  const goMod = readFileSync(new URL('./bin-build/kwok/go.mod', import.meta.url), 'utf8');
  const version = /sigs\.k8s\.io\/kwok (v\S+)/.exec(goMod)?.[1];
  if (!version) throw new Error('test/rig/bin-build/kwok/go.mod does not pin sigs.k8s.io/kwok');
  return moduleDir('sigs.k8s.io/kwok', version);
}

const POD_READY_STAGE = 'kustomize/stage/pod/fast/pod-ready.yaml';
/** kwokctl's default stage set (its heartbeat without Leases), read from the kwok module itself. */
const KWOK_STAGES = [
  'kustomize/stage/node/fast/node-initialize.yaml',
  'kustomize/stage/node/heartbeat/node-heartbeat.yaml',
  POD_READY_STAGE,
  'kustomize/stage/pod/fast/pod-complete.yaml',
  'kustomize/stage/pod/fast/pod-delete.yaml',
];

/**
 * kwok's status heartbeat comes every 20 s plus up to 25 s of jitter, past the 40 s after
 * which the node lifecycle controller calls a node without a Lease NotReady: every 10 s.
 */
function steadyHeartbeat(stage: string): string {
  const doc = parse(stage) as { metadata: { name: string }; spec: Record<string, unknown> };
  if (doc.metadata.name !== 'node-heartbeat') return stage;
  doc.spec.delay = { durationMilliseconds: 10_000 };
  return stringify(doc).trim();
}

/**
 * When its node goes NotReady (its API server was down past the grace period), the node
 * lifecycle controller marks every pod there NotReady; a kubelet reports them Ready again
 * once it is back, but kwok's pod-ready stage takes only Pending pods. This one selects as that
 * stage does, Running pods instead, and sets only the two conditions, as the kubelet's status
 * sync would: pod-ready's whole status would hand out pod IPs again (a second one is invalid).
 */
function podReadyAgain(podReadyStage: string): string {
  const doc = parse(podReadyStage) as {
    metadata: { name: string };
    spec: {
      selector: { matchExpressions: { key: string; values?: string[] }[] };
      next: { statusTemplate: string };
    };
  };
  const phase = doc.spec.selector.matchExpressions.find((e) => e.key === '.status.phase');
  if (doc.metadata.name !== 'pod-ready' || phase?.values?.join() !== 'Pending')
    throw new Error('kwok stage pod-ready changed: check podReadyAgain');
  doc.metadata.name = 'pod-ready-again';
  phase.values = ['Running'];
  doc.spec.next = {
    statusTemplate: [
      '{{ $now := Now }}',
      'conditions:',
      ...['Ready', 'ContainersReady'].flatMap((type) => [
        '- lastTransitionTime: {{ $now | Quote }}',
        '  status: "True"',
        `  type: ${type}`,
      ]),
    ].join('\n'),
  };
  return stringify(doc).trim();
}

/** kwok's own pod-ready stage, holding each pod back `delayMs` as a real node's start-up would. */
function delayPodReady(stage: string, delayMs: number): string {
  if (delayMs === 0) return stage;
  const doc = parse(stage) as { metadata: { name: string }; spec: Record<string, unknown> };
  if (doc.metadata.name !== 'pod-ready') return stage;
  doc.spec.delay = { durationMilliseconds: delayMs };
  return stringify(doc).trim();
}

/**
 * kwok writes a node's whole status from its stage template. Its templates
 * write `addresses` only when the node has none, so a node that went NotReady
 * (its API server restarted and the leases lapsed) and was initialized again
 * lost its InternalIP, and exec and logs to every kwok pod failed with "no
 * preferred addresses". The rig's nodes always have the one address kwok
 * serves on and their name.
 */
function nodeAddressesAlwaysWritten(stage: string): string {
  const doc = parse(stage) as {
    metadata: { name: string };
    spec: { next?: { statusTemplate?: string } };
  };
  const template = doc.spec.next?.statusTemplate;
  if (doc.spec.next === undefined || template === undefined || !/^node-/.test(doc.metadata.name))
    return stage;
  const conditional = [
    /\{\{ with \.status\.addresses \}\}\s*\{\{ YAML \. 1 \}\}\s*\{\{ else \}\}/,
    /\{\{ if or \(not \$hasInternalIP\) \(not \$hasHostname\) \}\}/,
    /\{\{ if not \$hasInternalIP \}\}/,
    /\{\{ if not \$hasHostname \}\}/,
  ];
  if (!/addresses:/.test(template)) return stage;
  if (!conditional.some((c) => c.test(template)))
    throw new Error(`kwok stage ${doc.metadata.name} changed: check nodeAddressesAlwaysWritten`);
  doc.spec.next.statusTemplate = conditional.reduce(
    (t, c) => t.replace(c, '{{ if true }}'),
    template,
  );
  return stringify(doc).trim();
}

export function writeKwokConfig(c: ClusterLayout, podReadyDelayMs: number): void {
  const mod = kwokModuleDir();
  const read = (f: string) => readFileSync(join(mod, f), 'utf8').trim();
  const stages = [
    ...KWOK_STAGES.map((f) =>
      nodeAddressesAlwaysWritten(steadyHeartbeat(delayPodReady(read(f), podReadyDelayMs))),
    ),
    podReadyAgain(read(POD_READY_STAGE)),
  ];
  // `kubectl exec` into the spire-server container runs on this machine, in a directory whose
  // bin/spire-server talks to this cluster's own SPIRE server only.
  const clusterExec = stringify({
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'ClusterExec',
    metadata: { name: SPIRE_SERVER.container },
    spec: {
      selector: { matchNamespaces: [SPIRE_NAMESPACE] },
      execs: [
        {
          containers: [SPIRE_SERVER.container],
          local: {
            workDir: c.spireExecDir,
            envs: [{ name: 'MESH_RIG_CLUSTER', value: c.name }],
          },
        },
      ],
    },
  }).trim();
  writeFileSync(kwokConfigPath(c), [...stages, clusterExec].join('\n---\n') + '\n');
}

/**
 * bin/spire-server for exec: the seed runs `./bin/spire-server <cmd> -socketPath <path>` in
 * /opt/spire; here the socket argument is replaced by this cluster's own socket (and added
 * when absent) before the real binary runs.
 */
export function writeSpireExecWrapper(c: ClusterLayout, bin: Binaries): void {
  const binDir = join(c.spireExecDir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const script = `#!/bin/bash
# Written by test/rig for ${c.name}: route spire-server CLI calls to this cluster's server.
sock=${JSON.stringify(c.spireSocket)}
real=${JSON.stringify(bin['spire-server'])}
args=() seen=0 skip=0
for a in "$@"; do
  if ((skip)); then skip=0; args+=("$sock"); continue; fi
  case $a in
    -socketPath|--socketPath) args+=("$a"); skip=1; seen=1 ;;
    -socketPath=*|--socketPath=*) args+=("\${a%%=*}=$sock"); seen=1 ;;
    *) args+=("$a") ;;
  esac
done
if ((!seen)) && [[ \${1:-} != run && \${1:-} != validate && \${1:-} != -* && -n \${1:-} ]]; then
  # Flags follow the (one or two word) subcommand: insert before the first flag.
  out=() added=0
  for a in "\${args[@]}"; do
    if ((!added)) && [[ $a == -* ]]; then out+=(-socketPath "$sock"); added=1; fi
    out+=("$a")
  done
  ((added)) || out+=(-socketPath "$sock")
  args=("\${out[@]}")
fi
# kwok never closes an exec's stdin; the relay ends it once the input is idle.
exec ${JSON.stringify(process.execPath)} ${JSON.stringify(fileURLToPath(new URL('./exec-relay.ts', import.meta.url)))} "$real" "\${args[@]}"
`;
  const file = join(binDir, 'spire-server');
  writeFileSync(file, script);
  chmodSync(file, 0o755);
}

export function writeSpireConfig(c: ClusterLayout, peers: ClusterLayout[]): void {
  const dir = join(c.dir, 'spire');
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  const federatesWith = peers
    .map(
      (p) => `    federates_with "${p.trustDomain}" {
      bundle_endpoint_url = "https://${p.spireAddress}:${SPIRE_BUNDLE_PORT}"
      bundle_endpoint_profile "https_spiffe" {
        endpoint_spiffe_id = "spiffe://${p.trustDomain}/spire/server"
      }
    }`,
    )
    .join('\n');
  const conf = `# Written by test/rig for ${c.name}.
server {
  bind_address = "${c.spireAddress}"
  bind_port = "${SPIRE_SERVER_PORT}"
  socket_path = "${c.spireSocket}"
  trust_domain = "${c.trustDomain}"
  data_dir = "${data}"
  log_level = "INFO"
  federation {
    bundle_endpoint {
      address = "${c.spireAddress}"
      port = ${SPIRE_BUNDLE_PORT}
    }
${federatesWith}
  }
}

plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${join(data, 'datastore.sqlite3')}"
    }
  }
  KeyManager "disk" {
    plugin_data {
      keys_path = "${join(data, 'keys.json')}"
    }
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
}
`;
  writeFileSync(spireConfigPath(c), conf);
}

export const CERT_MANAGER_CONTROLLER = 'cert-manager-controller';
export const WORKLOAD_REGISTRAR = 'k8s-workload-registrar';
export const SPIRE_CONTROLLER_MANAGER = 'spire-controller-manager';

/** cert-manager's controllers for this cluster; a ClusterIssuer's secrets live in cert-manager. */
export function certManagerSpec(c: ClusterLayout, bin: Binaries): ProcessSpec {
  return {
    name: CERT_MANAGER_CONTROLLER,
    dir: c.dir,
    argv: [
      bin['cert-manager-controller'],
      `--kubeconfig=${pkiPaths(c).kubeconfig}`,
      '--cluster-resource-namespace=cert-manager',
    ],
  };
}

export function registrarConfigPath(c: ClusterLayout): string {
  return join(c.dir, `${WORKLOAD_REGISTRAR}.conf`);
}

export function registrarSpec(c: ClusterLayout, bin: Binaries): ProcessSpec {
  return {
    name: WORKLOAD_REGISTRAR,
    dir: c.dir,
    argv: [
      bin['k8s-workload-registrar'],
      '-config',
      registrarConfigPath(c),
      '-kubeconfig',
      pkiPaths(c).kubeconfig,
    ],
  };
}

/**
 * Reconcile mode, as the seed's registrar: node entries under spiffe://<td>/spire/server, pod
 * entries spiffe://<td>/ns/<ns>/sa/<sa> with FederatesWith from `spiffe.io/federatesWith`.
 */
export function writeRegistrarConfig(c: ClusterLayout): void {
  const conf = `# Written by test/rig for ${c.name}.
log_level = "info"
mode = "reconcile"
trust_domain = "${c.trustDomain}"
server_socket_path = "${c.spireSocket}"
cluster = "${c.name}"
# "0" turns controller-runtime's metrics listener off (two registrars share this host).
metrics_addr = "0"
`;
  writeFileSync(registrarConfigPath(c), conf);
}

/**
 * Node objects for kwok to manage; no taints, so ordinary workloads schedule on them. In real
 * mode they carry FAKE_NODE_TAINT (placement-policy.ts says why).
 */
export function nodeObject(name: string, real = false): object {
  return {
    ...(real
      ? { spec: { taints: [{ key: FAKE_NODE_TAINT, value: 'true', effect: 'NoSchedule' }] } }
      : {}),
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'kwok.x-k8s.io/node': 'fake' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name,
        type: 'kwok',
      },
    },
  };
}

export function spireControllerManagerConfigPath(c: ClusterLayout): string {
  return join(c.dir, `${SPIRE_CONTROLLER_MANAGER}.yaml`);
}

/**
 * The action's SPIRE Controller Manager, as a host process against this cluster. Its
 * admission webhook is off (ENABLE_WEBHOOKS=false, upstream's switch): the rig controller
 * answers the action's ValidatingWebhookConfiguration instead, as for any webhook no real
 * pod serves, so the webhook's own validation is not exercised on the all-kwok rig.
 */
export function spireControllerManagerSpec(c: ClusterLayout, bin: Binaries): ProcessSpec {
  return {
    name: SPIRE_CONTROLLER_MANAGER,
    dir: c.dir,
    argv: [bin['spire-controller-manager'], `--config=${spireControllerManagerConfigPath(c)}`],
    env: { KUBECONFIG: pkiPaths(c).kubeconfig, ENABLE_WEBHOOKS: 'false' },
  };
}

/**
 * The controller manager's config as the action applied it (ConfigMap spire/spire-controller-
 * manager), with only what a host process must differ in: this cluster's SPIRE socket, and a
 * health listener of its own (every cluster's runs on this one host).
 */
export function hostSpireControllerManagerConfig(c: ClusterLayout, applied: string): string {
  const conf = YAML.parse(applied) as Record<string, unknown>;
  return YAML.stringify({
    ...conf,
    spireServerSocketPath: c.spireSocket,
    health: { healthProbeBindAddress: `127.0.0.1:${c.ports.spireControllerManagerHealth}` },
  });
}
