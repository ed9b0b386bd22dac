// Where everything of the rig lives: state directory, ports and loopback address plan.
//
// Every address a component may connect to is in 127.0.0.0/8, including Service ClusterIPs
// and LoadBalancer IPs: nothing may send traffic off the machine. With n = MESH_RIG_INSTANCE
// (default 0; another n lets a second rig run beside the first, with its own state dir and
// port base):
//   pods        127.<10n+i>.0.0/16     (kwok --cidr; so pod IPs are loopback addresses)
//   services    127.<100+10n+i>.0.0/16 (ClusterIPs; webhook calls go to ClusterIP:port)
//   LB pool     127.<200+10n+i>.0.0/24 (.1 = this cluster's real SPIRE server, .10+ = other LBs)
//   ports       <base + i*1000> + offset, all bound on 127.0.0.1

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { MAX_CLUSTERS, MIN_CLUSTERS } from '../../src/config/config.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../../src/model/names.ts';

/** The action's bounds (MIN_CLUSTERS..MAX_CLUSTERS); MESH_RIG_TRUST_DOMAINS picks the count. */
export const RIG_MIN_CLUSTERS = MIN_CLUSTERS;
export const RIG_MAX_CLUSTERS = MAX_CLUSTERS;
/** Address plans that fit in an octet: 200 + 10n + i <= 255 for i <= 5. */
export const RIG_MAX_INSTANCE = 5;

export interface ClusterLayout {
  /** 1-based. */
  index: number;
  /** Also the kubeconfig context name. */
  name: string;
  dir: string;
  trustDomain: string;
  podCidr: string;
  serviceCidr: string;
  /** First three octets of the LoadBalancer pool, e.g. `127.201.0`. */
  lbPrefix: string;
  /** Where this cluster's SPIRE server listens (bundle endpoint :8443, server API :8081). */
  spireAddress: string;
  spireSocket: string;
  /** kwok runs `kubectl exec` into namespace spire from here; holds `bin/spire-server`. */
  spireExecDir: string;
  nodeNames: string[];
  ports: {
    etcdClient: number;
    etcdPeer: number;
    apiserver: number;
    controllerManager: number;
    scheduler: number;
    kwok: number;
    /** MESH_RIG_PROFILE=current: the SPIRE Controller Manager's health listener. */
    spireControllerManagerHealth: number;
  };
}

export type RigSpireProfile = 'seed' | 'current';

export interface RigLayout {
  stateDir: string;
  /**
   * Namespaces whose pods run on real nodes (test/rig/node), from MESH_RIG_REAL (comma list;
   * empty, the default, keeps the all-kwok rig). With `spire` in it the rig runs no SPIRE
   * server or registrar of its own: the action's pods are the cluster's SPIRE. See realMode().
   */
  realNamespaces: string[];
  cacheDir: string;
  /** Which address plan (MESH_RIG_INSTANCE); see the top of this file. */
  instance: number;
  kubeconfig: string;
  /** Rig-wide CA that signs the allow-all admission server's certificates. */
  admissionCaCert: string;
  admissionCaKey: string;
  controllerLog: string;
  controllerDir: string;
  clusters: ClusterLayout[];
  /**
   * Which SPIRE the rig runs (MESH_RIG_PROFILE, the action's `profile`): `seed`, the default,
   * SPIRE 1.5.1 with the k8s-workload-registrar; `current`, SPIRE 1.15.3 with the SPIRE
   * Controller Manager, started from the action's ConfigMap once its CRDs are there.
   */
  spireProfile: RigSpireProfile;
  /**
   * How long kwok keeps a new pod from Ready (MESH_RIG_POD_DELAY_MS), standing in
   * for a real node's start-up; 0 makes pods Ready at once. Read when kwok starts.
   */
  podReadyDelayMs: number;
}

/** The bundle endpoint port the action's manifests publish. */
export const SPIRE_BUNDLE_PORT = SPIRE_SERVER.bundlePort;
export const SPIRE_SERVER_PORT = 8081;
/** Written into the state dir so `down` only ever deletes a directory the rig made. */
export const STATE_MARKER = '.mesh-rig';
/**
 * Written into the controller's `ready` file; `up` restarts a running controller that reports
 * another one (it runs older rig code). 2: supervises the host add-ons; 3: re-checks the
 * cert-manager CRDs sooner. 6: relays webhooks of pods on real nodes (test/rig/node). 7: a
 * watch that failed starts again until it does (an API server restart). 8: also when the failed
 * start only emitted an error. 9: runs the SPIRE Controller Manager for MESH_RIG_PROFILE=current.
 * 10: volumes it provisions are writable by any uid (SPIRE 1.10+ servers run as 1000), one
 * directory per claim, removed with the claim.
 */
export const CONTROLLER_REVISION = 10;

export function rigLayout(env: NodeJS.ProcessEnv = process.env): RigLayout {
  const stateDir = resolve(env.MESH_RIG_STATE || '/tmp/mesh-rig');
  const cacheDir = resolve(env.MESH_RIG_CACHE || join(homedir(), '.cache/mesh-federation/rig'));
  const portBase = Number(env.MESH_RIG_PORT_BASE || 20000);
  const instance = Number(env.MESH_RIG_INSTANCE || 0);
  if (!Number.isInteger(instance) || instance < 0 || instance > RIG_MAX_INSTANCE) {
    throw new Error(`MESH_RIG_INSTANCE must be an integer from 0 to ${RIG_MAX_INSTANCE}`);
  }
  const podReadyDelayMs = Number(env.MESH_RIG_POD_DELAY_MS || 0);
  if (!Number.isInteger(podReadyDelayMs) || podReadyDelayMs < 0) {
    throw new Error('MESH_RIG_POD_DELAY_MS must be a whole number of milliseconds');
  }
  const trustDomains = (env.MESH_RIG_TRUST_DOMAINS || 'foo.com,bar.com').split(',');
  if (trustDomains.length < RIG_MIN_CLUSTERS || trustDomains.length > RIG_MAX_CLUSTERS) {
    throw new Error(
      `MESH_RIG_TRUST_DOMAINS needs ${RIG_MIN_CLUSTERS} to ${RIG_MAX_CLUSTERS} comma-separated names, one per cluster`,
    );
  }
  const clusters: ClusterLayout[] = trustDomains.map((td, k) => {
    const i = k + 1;
    const name = `cluster-${i}`;
    const dir = join(stateDir, name);
    const base = portBase + i * 1000;
    const net = 10 * instance + i;
    return {
      index: i,
      name,
      dir,
      trustDomain: td.trim(),
      podCidr: `127.${net}.0.0/16`,
      serviceCidr: `127.${100 + net}.0.0/16`,
      lbPrefix: `127.${200 + net}.0`,
      spireAddress: `127.${200 + net}.0.1`,
      spireSocket: join(dir, 'spire', 'api.sock'),
      spireExecDir: join(dir, 'spire-exec'),
      nodeNames: [`${name}-node-1`, `${name}-node-2`],
      ports: {
        etcdClient: base + 379,
        etcdPeer: base + 380,
        apiserver: base + 443,
        controllerManager: base + 257,
        scheduler: base + 259,
        kwok: base + 250,
        spireControllerManagerHealth: base + 283,
      },
    };
  });
  // A unix socket path longer than sun_path (108 bytes) fails late and obscurely.
  for (const c of clusters) {
    if (Buffer.byteLength(c.spireSocket) > 100) {
      throw new Error(`MESH_RIG_STATE is too long for a unix socket path: ${c.spireSocket}`);
    }
  }
  const spireProfile = (env.MESH_RIG_PROFILE || 'seed') as RigSpireProfile;
  if (spireProfile !== 'seed' && spireProfile !== 'current')
    throw new Error(`MESH_RIG_PROFILE must be seed or current, not '${spireProfile}'`);
  const controllerDir = join(stateDir, 'controller');
  const realNamespaces = (env.MESH_RIG_REAL || '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  for (const n of realNamespaces) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n)) {
      throw new Error(`MESH_RIG_REAL must list namespace names, not '${n}'`);
    }
  }
  return {
    stateDir,
    realNamespaces,
    cacheDir,
    instance,
    kubeconfig: join(stateDir, 'kubeconfig'),
    admissionCaCert: join(controllerDir, 'admission-ca.crt'),
    admissionCaKey: join(controllerDir, 'admission-ca.key'),
    controllerLog: join(controllerDir, 'controller.log'),
    controllerDir,
    clusters,
    spireProfile,
    podReadyDelayMs,
  };
}

/** Where a cluster's PKI files live. */
export function pkiPaths(c: ClusterLayout) {
  const d = join(c.dir, 'pki');
  return {
    dir: d,
    caCert: join(d, 'ca.crt'),
    caKey: join(d, 'ca.key'),
    servingCert: join(d, 'apiserver.crt'),
    servingKey: join(d, 'apiserver.key'),
    adminCert: join(d, 'admin.crt'),
    adminKey: join(d, 'admin.key'),
    frontProxyCaCert: join(d, 'front-proxy-ca.crt'),
    frontProxyClientCert: join(d, 'front-proxy-client.crt'),
    frontProxyClientKey: join(d, 'front-proxy-client.key'),
    saKey: join(d, 'sa.key'),
    saPub: join(d, 'sa.pub'),
    /** The API server's client certificate towards kubelets (bound to system:kubelet-api-admin). */
    kubeletClientCert: join(d, 'apiserver-kubelet-client.crt'),
    kubeletClientKey: join(d, 'apiserver-kubelet-client.key'),
    /** kwok's serving certificate (IP 127.0.0.1), so the API server can verify it as a kubelet. */
    kwokServingCert: join(d, 'kwok-serving.crt'),
    kwokServingKey: join(d, 'kwok-serving.key'),
    /** Kubeconfig with only this cluster, used by its own components. */
    kubeconfig: join(c.dir, 'kubeconfig'),
  };
}

/** Where the kube-controller-manager keeps flex volume plugins (default /usr/libexec/…). */
export function flexVolumeDir(c: ClusterLayout): string {
  return join(c.dir, 'flexvolume');
}

/** The `kubernetes` Service's ClusterIP: the first address of the service range. */
export function firstServiceIp(c: ClusterLayout): string {
  const [a, b, cc] = c.serviceCidr.split('/')[0]!.split('.');
  return `${a}.${b}.${cc}.1`;
}

export function apiserverUrl(c: ClusterLayout): string {
  return `https://127.0.0.1:${c.ports.apiserver}`;
}

/** Whether the action's SPIRE (namespace spire) runs on real nodes instead of the rig's own. */
export function realSpire(rig: Pick<RigLayout, 'realNamespaces'>): boolean {
  return rig.realNamespaces.includes(SPIRE_NAMESPACE);
}

/**
 * Real mode (MESH_RIG_REAL set): the kwok nodes carry this NoSchedule taint, so DaemonSets and
 * the scheduler keep the real namespaces' pods off them, and the placement policy
 * (placement-policy.ts) lets every other pod tolerate it and pins it to the kwok nodes.
 */
export const FAKE_NODE_TAINT = 'mesh-rig.test/fake-node';
/** Written into the state dir at `up`: the node scripts read the real namespaces from it. */
export const REAL_NAMESPACES_FILE = 'real-namespaces';
