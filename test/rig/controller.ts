// The rig controller: one Node process per rig that does, for both clusters, what a real
// cluster's add-ons would do for workloads whose pods kwok only pretends to run:
//  - LoadBalancer Services get status.loadBalancer.ingress[0].ip from a loopback pool (as
//    cloud-provider-kind does on kind); spire/spire-server-bundle-endpoint gets the address on which that
//    cluster's real SPIRE server serves its bundle endpoint.
//  - Pending PVCs get a hostPath PV pre-bound to them (a tiny provisioner).
//  - Webhooks with a Service target get the rig's admission CA in caBundle (as cainjector or
//    istiod would) and an allow-all admission server on the Service's ClusterIP:port while a
//    Ready pod backs the Service, so the API server's call really happens. Services with
//    pods on a real node (test/rig/node; any node but the rig's kwok nodes) are left to those
//    pods: no caBundle injection, and ClusterIP:port is a TCP relay to the Ready ones' pod IPs
//    (the API server dials ClusterIPs, which are loopback addresses on the host).
//  - Pods naming `image: auto` are refused, as a real node would never start them
//    (injection-policy.ts); the admission server fills that image in for Istio's injector.
//  - Real add-on programs run on the host (addons.ts): SPIRE's k8s-workload-registrar always,
//    the cert-manager controller while the watched cert-manager CRDs are Established.
// Run as `node test/rig/controller.ts` with MESH_RIG_STATE set; logs one line per action.

import { appendFileSync, chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { ClusterAddons, CERT_MANAGER_GATE_CRD } from './addons.ts';
import { AdmissionServers, type WebhookTarget } from './admission.ts';
import { ensureInjectionPolicy } from './injection-policy.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../../src/model/names.ts';
import { loadRigBinaries, type Binaries } from './binaries.ts';
import { apiCall, apiRequest, credentialsFromFiles, type ApiCredentials } from './kube-http.ts';
import {
  apiserverUrl,
  CONTROLLER_REVISION,
  pkiPaths,
  realSpire,
  rigLayout,
  type ClusterLayout,
  type RigLayout,
  type RigSpireProfile,
} from './layout.ts';

export const CAINJECTOR_FIELD_MANAGER = 'mesh-rig-cainjector';
export const RIG_FIELD_MANAGER = 'mesh-rig-controller';
const PV_PREFIX = 'rig-pv-';
/** LoadBalancer IPs other than the SPIRE server's start here in the cluster's pool. */
const LB_FIRST_HOST = 10;
/** How often the add-ons are checked (a dead one is noticed within this). */
const ADDON_CHECK_MS = 2000;

type Log = (line: string) => void;

interface Watched<T extends k8s.KubernetesObject> {
  informer: k8s.Informer<T> & k8s.ObjectCache<T>;
}

type WebhookConfig = k8s.V1MutatingWebhookConfiguration | k8s.V1ValidatingWebhookConfiguration;

const nsName = (o: k8s.KubernetesObject) =>
  `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

function isReady(pod: k8s.V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

class ClusterController {
  private readonly services: Watched<k8s.V1Service>;
  private readonly pods: Watched<k8s.V1Pod>;
  private readonly pvcs: Watched<k8s.V1PersistentVolumeClaim>;
  private readonly mutating: Watched<k8s.V1MutatingWebhookConfiguration>;
  private readonly validating: Watched<k8s.V1ValidatingWebhookConfiguration>;
  private readonly gateCrd: Watched<k8s.V1CustomResourceDefinition>;
  private readonly addons: ClusterAddons;
  private readonly creds: ApiCredentials;
  /** Last logged state per webhook, so the log gets a line per change, not per pass. */
  private readonly webhookState = new Map<string, string>();
  private readonly provisioned = new Set<string>();
  private dirty = true;
  private running = false;
  private readonly layout: ClusterLayout;
  private readonly admission: AdmissionServers;
  private readonly caBundle: string;
  private readonly log: Log;
  /** The action's SPIRE runs on a real node (MESH_RIG_REAL): its bundle endpoint is an ordinary LB. */
  private readonly realSpire: boolean;
  synced = false;

  constructor(
    layout: ClusterLayout,
    admission: AdmissionServers,
    caBundle: string,
    bin: Binaries,
    log: Log,
    spireIsReal = false,
    profile: RigSpireProfile = 'seed',
  ) {
    this.layout = layout;
    this.realSpire = spireIsReal;
    this.admission = admission;
    this.caBundle = caBundle;
    this.log = (line) => log(`${layout.name} ${line}`);
    const p = pkiPaths(layout);
    this.creds = credentialsFromFiles(apiserverUrl(layout), p);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(p.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const adm = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    this.services = this.watch(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
    this.pods = this.watch(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
    this.pvcs = this.watch(kc, '/api/v1/persistentvolumeclaims', () =>
      core.listPersistentVolumeClaimForAllNamespaces(),
    );
    this.mutating = this.watch(
      kc,
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
      () => adm.listMutatingWebhookConfiguration(),
    );
    this.validating = this.watch(
      kc,
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      () => adm.listValidatingWebhookConfiguration(),
    );
    this.pvcs.informer.on('delete', (pvc) => void this.releaseVolume(pvc));
    this.addons = new ClusterAddons(layout, bin, this.creds, this.log, spireIsReal, profile);
    // One named CRD, not all of them: Istio's would fill this process with schemas.
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const byName = `metadata.name=${CERT_MANAGER_GATE_CRD}`;
    this.gateCrd = this.watch(
      kc,
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      () => ext.listCustomResourceDefinition({ fieldSelector: byName }),
      byName,
    );
    const gate = () => this.addons.gateChanged(this.gateCrd.informer.get(CERT_MANAGER_GATE_CRD));
    for (const verb of ['add', 'update', 'delete'] as const) this.gateCrd.informer.on(verb, gate);
  }

  private watch<T extends k8s.KubernetesObject>(
    kc: k8s.KubeConfig,
    path: string,
    list: k8s.ListPromise<T>,
    fieldSelector?: string,
  ): Watched<T> {
    const informer = new k8s.ListWatch<T>(
      path,
      new k8s.Watch(kc),
      list,
      false,
      undefined,
      fieldSelector,
    );
    const touch = () => {
      this.dirty = true;
    };
    informer.on('add', touch);
    informer.on('update', touch);
    informer.on('delete', touch);
    // Until it starts again: an API server that is down for a minute (restarting)
    // refuses the first tries, and a watch given up on never sees a new Service.
    // A failed start may only emit 'error' and still resolve, so every error
    // schedules the next try (one pending at a time), whatever the promise says.
    let retry: NodeJS.Timeout | undefined;
    const restart = (): void => {
      clearTimeout(retry);
      retry = setTimeout(() => {
        retry = undefined;
        informer.start().catch((err: unknown) => {
          this.log(`watch ${path} did not start again (${String(err)}); trying again`);
          restart();
        });
      }, 2000);
    };
    informer.on('error', (err: unknown) => {
      this.log(`watch ${path} failed (${String(err)}); restarting`);
      restart();
    });
    return { informer };
  }

  async start(): Promise<void> {
    const all = [this.services, this.pods, this.pvcs, this.mutating, this.validating, this.gateCrd];
    await Promise.all(all.map((w) => w.informer.start()));
    await ensureInjectionPolicy(this.creds);
    this.synced = true;
    // Before `ready`: after `up` the registrar runs, and so does cert-manager if its CRDs exist.
    this.addons.gateChanged(this.gateCrd.informer.get(CERT_MANAGER_GATE_CRD));
    await this.addons.reconcile();
    setInterval(() => void this.addons.reconcile(), ADDON_CHECK_MS).unref();
    setInterval(() => {
      this.dirty = true;
    }, 5000).unref();
    setInterval(() => void this.loop(), 100).unref();
  }

  private async loop(): Promise<void> {
    if (this.running || !this.dirty) return;
    this.running = true;
    this.dirty = false;
    try {
      await this.assignLoadBalancers();
      await this.provisionVolumes();
      await this.serveWebhooks();
    } catch (err) {
      this.log(`reconcile failed: ${(err as Error).message}`);
      this.dirty = true;
    } finally {
      this.running = false;
    }
  }

  private async assignLoadBalancers(): Promise<void> {
    const lbs = this.services.informer.list().filter((s) => s.spec?.type === 'LoadBalancer');
    // The rig's own SPIRE server listens on spireAddress; a real one is reached through kube-proxy.
    const spireKey = this.realSpire ? '' : `${SPIRE_NAMESPACE}/${SPIRE_SERVER.bundleService}`;
    const inPool = (ip: string | undefined) =>
      !!ip && ip.startsWith(`${this.layout.lbPrefix}.`) && ip !== this.layout.spireAddress;
    const used = new Set<string>();
    for (const s of lbs) {
      const ip = s.status?.loadBalancer?.ingress?.[0]?.ip;
      if (nsName(s) !== spireKey && inPool(ip)) used.add(ip!);
    }
    let next = LB_FIRST_HOST;
    for (const s of lbs) {
      const current = s.status?.loadBalancer?.ingress?.[0]?.ip;
      let want: string;
      if (nsName(s) === spireKey) want = this.layout.spireAddress;
      else if (inPool(current)) want = current!;
      else {
        while (used.has(`${this.layout.lbPrefix}.${next}`)) next++;
        if (next > 254) throw new Error('LoadBalancer pool exhausted');
        want = `${this.layout.lbPrefix}.${next}`;
        used.add(want);
      }
      if (current === want) continue;
      await apiCall(
        this.creds,
        'PATCH',
        `/api/v1/namespaces/${s.metadata!.namespace}/services/${s.metadata!.name}/status?fieldManager=${RIG_FIELD_MANAGER}`,
        { status: { loadBalancer: { ingress: [{ ip: want, ipMode: 'VIP' }] } } },
        'application/merge-patch+json',
      );
      this.log(`loadbalancer ${nsName(s)} ingress ip ${want}`);
    }
  }

  private async provisionVolumes(): Promise<void> {
    for (const pvc of this.pvcs.informer.list()) {
      const uid = pvc.metadata?.uid;
      if (
        !uid ||
        pvc.spec?.volumeName ||
        pvc.status?.phase !== 'Pending' ||
        this.provisioned.has(uid)
      ) {
        continue;
      }
      const name = `${PV_PREFIX}${uid}`;
      const path = this.volumeDir(pvc);
      // Writable by any container user, as kind's local-path provisioner makes them (fsGroup
      // does not apply to hostPath volumes): SPIRE's server images run as uid 1000 from 1.10.
      mkdirSync(path, { recursive: true });
      chmodSync(path, 0o777);
      const pv = {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name, labels: { 'mesh-rig/provisioned': 'true' } },
        spec: {
          capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
          accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
          volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
          storageClassName: pvc.spec?.storageClassName ?? '',
          persistentVolumeReclaimPolicy: 'Retain',
          claimRef: {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            namespace: pvc.metadata!.namespace,
            name: pvc.metadata!.name,
            uid,
          },
          hostPath: { path, type: 'DirectoryOrCreate' },
        },
      };
      await apiCall(
        this.creds,
        'POST',
        `/api/v1/persistentvolumes?fieldManager=${RIG_FIELD_MANAGER}`,
        pv,
        undefined,
        [409],
      );
      this.provisioned.add(uid);
      this.log(
        `volume ${name} (${pv.spec.capacity.storage}, hostPath ${path}) for pvc ${nsName(pvc)}`,
      );
    }
  }

  /** One directory per claim: a claim made again (a re-install) starts empty, as a new volume would. */
  private volumeDir(pvc: k8s.V1PersistentVolumeClaim): string {
    return join(
      this.layout.dir,
      'volumes',
      `${pvc.metadata!.namespace}-${pvc.metadata!.name}-${pvc.metadata!.uid}`,
    );
  }

  private async releaseVolume(pvc: k8s.V1PersistentVolumeClaim): Promise<void> {
    const uid = pvc.metadata?.uid;
    if (!uid) return;
    // Tried for every claim: after a controller restart `provisioned` no longer knows ours.
    this.provisioned.delete(uid);
    // Its data goes with the claim, as with a dynamic provisioner's default reclaim policy.
    rmSync(this.volumeDir(pvc), { recursive: true, force: true });
    const res = await apiRequest(
      this.creds,
      'DELETE',
      `/api/v1/persistentvolumes/${PV_PREFIX}${uid}`,
    ).catch((err: Error) => ({ status: 0, body: err.message }));
    if (res.status !== 404) {
      this.log(
        `volume ${PV_PREFIX}${uid} for deleted pvc ${nsName(pvc)}: delete HTTP ${res.status}`,
      );
    }
  }

  private backends(svc: k8s.V1Service): k8s.V1Pod[] {
    const selector = svc.spec?.selector;
    if (!selector || Object.keys(selector).length === 0) return [];
    return this.pods.informer
      .list(svc.metadata!.namespace)
      .filter((p) => Object.entries(selector).every(([k, v]) => p.metadata?.labels?.[k] === v));
  }

  private hasReadyBackend(svc: k8s.V1Service): boolean {
    return this.backends(svc).some(isReady);
  }

  /** Bound to a node that is not one of the rig's kwok nodes: a real kubelet runs it. */
  private onRealNode(pod: k8s.V1Pod): boolean {
    const node = pod.spec?.nodeName;
    return !!node && !pod.metadata?.deletionTimestamp && !this.layout.nodeNames.includes(node);
  }

  /** Pod IP and port behind the Service port `port`, for pods on a real node. */
  private realBackends(svc: k8s.V1Service, port: number): { ip: string; port: number }[] {
    const sp = (svc.spec?.ports ?? []).find((p) => p.port === port);
    if (!sp) return [];
    const out: { ip: string; port: number }[] = [];
    for (const pod of this.backends(svc).filter((p) => this.onRealNode(p) && isReady(p))) {
      const ip = pod.status?.podIP;
      let target: number | undefined;
      const tp = sp.targetPort as number | string | undefined;
      if (tp === undefined) target = port;
      else if (typeof tp === 'number' || /^\d+$/.test(tp)) target = Number(tp);
      else {
        target = (pod.spec?.containers ?? [])
          .flatMap((c) => c.ports ?? [])
          .find((p) => p.name === tp)?.containerPort;
      }
      if (ip && target) out.push({ ip, port: target });
    }
    return out;
  }

  private note(key: string, state: string): void {
    if (this.webhookState.get(key) === state) return;
    this.webhookState.set(key, state);
    this.log(`webhook ${key}: ${state}`);
  }

  private async serveWebhooks(): Promise<void> {
    const targets = new Map<string, WebhookTarget>();
    const configs: [string, string, readonly WebhookConfig[]][] = [
      ['mutating', 'mutatingwebhookconfigurations', this.mutating.informer.list()],
      ['validating', 'validatingwebhookconfigurations', this.validating.informer.list()],
    ];
    for (const [kind, resource, list] of configs) {
      for (const cfg of list) {
        const hooks = cfg.webhooks ?? [];
        const patch: object[] = [];
        hooks.forEach((w, i) => {
          const key = `${kind} ${cfg.metadata!.name}/${w.name}`;
          const ref = w.clientConfig.service;
          if (!ref) {
            this.note(key, `url ${w.clientConfig.url ?? '?'} is not served by the rig`);
            return;
          }
          const svc = this.services.informer.get(ref.name, ref.namespace);
          const port = ref.port ?? 443;
          const target = `service ${ref.namespace}/${ref.name}:${port}${ref.path ?? ''}`;
          const ip = svc?.spec?.clusterIP;
          if (svc && this.backends(svc).some((p) => this.onRealNode(p))) {
            // Its own pods serve it: their CA stays in caBundle, their answers count.
            const relayTo = this.realBackends(svc, port);
            if (!ip || ip === 'None' || relayTo.length === 0) {
              this.note(key, `${target} runs on a real node but has no Ready pod (or ClusterIP)`);
            } else {
              const to = relayTo.map((b) => `${b.ip}:${b.port}`).join(', ');
              this.note(key, `${target} runs on a real node: ${ip}:${port} relayed to ${to}`);
              targets.set(`${ip}:${port}`, {
                cluster: this.layout.name,
                ip,
                port,
                service: `${ref.namespace}/${ref.name}`,
                relayTo,
              });
            }
            return;
          }
          if (w.clientConfig.caBundle !== this.caBundle) {
            patch.push(
              { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
              { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: this.caBundle },
            );
          }
          if (!svc || !ip || ip === 'None') {
            this.note(key, `${target} has no ClusterIP yet; calls fail as in a real cluster`);
          } else if (!this.hasReadyBackend(svc)) {
            this.note(key, `${target} has no Ready pod; calls fail as in a real cluster`);
          } else {
            this.note(key, `${target} answered allow-all by the rig at https://${ip}:${port}`);
            targets.set(`${ip}:${port}`, {
              cluster: this.layout.name,
              ip,
              port,
              service: `${ref.namespace}/${ref.name}`,
            });
          }
        });
        if (patch.length > 0) {
          await apiCall(
            this.creds,
            'PATCH',
            `/apis/admissionregistration.k8s.io/v1/${resource}/${cfg.metadata!.name}?fieldManager=${CAINJECTOR_FIELD_MANAGER}`,
            patch,
            'application/json-patch+json',
          );
          this.log(
            `webhook ${kind} ${cfg.metadata!.name}: injected the rig admission CA into ${patch.length / 2} caBundle(s)`,
          );
        }
      }
    }
    await this.admission.reconcile(this.layout.name, [...targets.values()]);
  }
}

export async function runController(rig: RigLayout): Promise<void> {
  mkdirSync(rig.controllerDir, { recursive: true });
  const log: Log = (line) =>
    appendFileSync(rig.controllerLog, `${new Date().toISOString()} ${line}\n`);
  const ca = {
    cert: readFileSync(rig.admissionCaCert, 'utf8'),
    key: readFileSync(rig.admissionCaKey, 'utf8'),
  };
  const caBundle = Buffer.from(ca.cert).toString('base64');
  const admission = new AdmissionServers(ca, log);
  const bin = loadRigBinaries(rig.cacheDir, rig.spireProfile);
  const clusters = rig.clusters.map(
    (c) =>
      new ClusterController(c, admission, caBundle, bin, log, realSpire(rig), rig.spireProfile),
  );
  process.on('SIGTERM', () => {
    admission.closeAll();
    log('controller stopping');
    process.exit(0);
  });
  await Promise.all(clusters.map((c) => c.start()));
  writeFileSync(
    join(rig.controllerDir, 'ready'),
    `${new Date().toISOString()} revision ${CONTROLLER_REVISION}\n`,
  );
  log(`controller ready for ${rig.clusters.map((c) => c.name).join(', ')}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runController(rigLayout()).catch((err: Error) => {
    console.error(err);
    process.exit(1);
  });
}
