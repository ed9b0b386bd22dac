// Real add-on programs that the rig controller runs on the host, one set per cluster, in place
// of the pods kwok only pretends to run:
//  - SPIRE's k8s-workload-registrar (profile seed), from the start: it needs only pods and nodes.
//  - The SPIRE Controller Manager (profile current), once its CRDs are Established and the
//    action applied its ConfigMap, which it runs from (hostSpireControllerManagerConfig).
//  - The cert-manager controller, only while cert-manager's CRDs are Established. The action
//    installs them (the rig must not); without them the controller's informers could only fail,
//    so it is stopped again when they go away (the action's cleanup deletes them).
// Each runs detached like the rig's other processes (pid file and log in the cluster's state
// dir), so a restarted controller adopts it; one that dies is restarted with a backoff.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Binaries } from './binaries.ts';
import {
  CERT_MANAGER_CONTROLLER,
  certManagerSpec,
  spireControllerManagerConfigPath,
  spireControllerManagerSpec,
  hostSpireControllerManagerConfig,
  registrarSpec,
  writeRegistrarConfig,
} from './components.ts';
import { apiRequest, type ApiCredentials } from './kube-http.ts';
import type { ClusterLayout, RigSpireProfile } from './layout.ts';
import { SPIRE_NAMESPACE } from '../../src/model/names.ts';
import { logFile, runningPid, startProcess, stopProcess, type ProcessSpec } from './processes.ts';

/** The CRD whose watch opens and closes the gate. */
export const CERT_MANAGER_GATE_CRD = 'certificates.cert-manager.io';
/** What the built-in SelfSigned and CA issuance paths list and watch. */
export const CERT_MANAGER_CRDS = [
  CERT_MANAGER_GATE_CRD,
  'certificaterequests.cert-manager.io',
  'issuers.cert-manager.io',
  'clusterissuers.cert-manager.io',
];

/** A run shorter than this counts as a crash loop and doubles the restart delay. */
const STABLE_RUN_MS = 30_000;
const MAX_RESTART_DELAY_MS = 60_000;

export interface CrdLike {
  metadata?: { deletionTimestamp?: unknown };
  status?: { conditions?: { type: string; status: string }[] };
}

export function crdEstablished(crd: CrdLike | undefined): boolean {
  return (
    !!crd &&
    !crd.metadata?.deletionTimestamp &&
    (crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True')
  );
}

/** The cert-manager CRDs that are not (yet) Established; empty when all are. */
export async function missingCertManagerCrds(creds: ApiCredentials): Promise<string[]> {
  const missing: string[] = [];
  for (const name of CERT_MANAGER_CRDS) {
    const res = await apiRequest(
      creds,
      'GET',
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      undefined,
      undefined,
      5000,
    );
    if (res.status === 404) missing.push(name);
    else if (res.status !== 200) throw new Error(`GET CRD ${name}: HTTP ${res.status}`);
    else if (!crdEstablished(JSON.parse(res.body) as CrdLike)) missing.push(name);
  }
  return missing;
}

function lastLogLine(spec: ProcessSpec): string {
  try {
    const lines = readFileSync(logFile(spec.dir, spec.name), 'utf8').trimEnd().split('\n');
    return (lines.at(-1) ?? '').slice(0, 300);
  } catch {
    return '';
  }
}

/** Keeps one process running (or stopped) as asked, restarting it with a backoff. */
export class Supervised {
  private readonly spec: ProcessSpec;
  private readonly log: (line: string) => void;
  private readonly prepare: () => void;
  /** When the process we know of started; undefined while none runs. */
  private startedAt: number | undefined;
  private crashes = 0;
  private notBefore = 0;

  constructor(spec: ProcessSpec, log: (line: string) => void, prepare: () => void = () => {}) {
    this.spec = spec;
    this.log = (line) => log(`${spec.name} ${line}`);
    this.prepare = prepare;
  }

  runningPid(): number | undefined {
    return runningPid(this.spec.dir, this.spec.name);
  }

  async ensure(wanted: boolean, why: string): Promise<void> {
    const pid = runningPid(this.spec.dir, this.spec.name);
    if (!wanted) {
      this.crashes = 0;
      this.notBefore = 0;
      this.startedAt = undefined;
      if (!pid) return;
      await stopProcess(this.spec.dir, this.spec.name);
      this.log(`stopped pid ${pid} (${why})`);
      return;
    }
    if (pid) {
      if (this.startedAt === undefined) {
        this.startedAt = Date.now();
        this.log(`running as pid ${pid} (adopted)`);
      }
      return;
    }
    const now = Date.now();
    if (this.startedAt !== undefined) {
      const ranMs = now - this.startedAt;
      this.crashes = ranMs < STABLE_RUN_MS ? this.crashes + 1 : 0;
      const delay = Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** this.crashes);
      this.notBefore = now + delay;
      this.startedAt = undefined;
      this.log(
        `exited after ${(ranMs / 1000).toFixed(1)} s; restarting in ${delay / 1000} s; last log line: ${lastLogLine(this.spec)}`,
      );
    }
    if (now < this.notBefore) return;
    this.prepare();
    const started = startProcess(this.spec);
    this.startedAt = now;
    this.log(`started pid ${started} (${why}); log ${logFile(this.spec.dir, this.spec.name)}`);
  }
}

/** What the SPIRE Controller Manager needs before it can start. */
export const CONTROLLER_MANAGER_GATE_CRD = 'clusterspiffeids.spire.spiffe.io';
export const CONTROLLER_MANAGER_CONFIGMAP = {
  name: 'spire-controller-manager',
  key: 'controller-manager.yaml',
};

async function getJson<T>(creds: ApiCredentials, path: string): Promise<T | undefined> {
  const res = await apiRequest(creds, 'GET', path, undefined, undefined, 5000);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return JSON.parse(res.body) as T;
}

/** The add-ons of one cluster; `reconcile` is called on CRD events and on a timer. */
export class ClusterAddons {
  private readonly certManager: Supervised;
  /** Absent when the action's own registrar runs on a real node (MESH_RIG_REAL has spire). */
  private readonly registrar: Supervised | undefined;
  /** Profile current, all-kwok: the action's SPIRE Controller Manager as a host process. */
  private readonly controllerManager: Supervised | undefined;
  private readonly layout: ClusterLayout;
  private readonly creds: ApiCredentials;
  private readonly log: (line: string) => void;
  private gateCrd: CrdLike | undefined;
  private waitingFor = '';
  private busy: Promise<void> | undefined;
  private again = false;

  constructor(
    layout: ClusterLayout,
    bin: Binaries,
    creds: ApiCredentials,
    log: (line: string) => void,
    realSpire = false,
    profile: RigSpireProfile = 'seed',
  ) {
    this.creds = creds;
    this.log = log;
    this.layout = layout;
    this.certManager = new Supervised(certManagerSpec(layout, bin), log);
    this.registrar =
      realSpire || profile !== 'seed'
        ? undefined
        : new Supervised(registrarSpec(layout, bin), log, () => writeRegistrarConfig(layout));
    this.controllerManager =
      realSpire || profile !== 'current'
        ? undefined
        : new Supervised(spireControllerManagerSpec(layout, bin), log);
  }

  /** Runs the controller manager from the config the action applied; restarts it when that changes. */
  private async ensureControllerManager(): Promise<void> {
    const manager = this.controllerManager;
    if (!manager) return;
    const crd = await getJson<CrdLike>(
      this.creds,
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CONTROLLER_MANAGER_GATE_CRD}`,
    );
    const cm = await getJson<{ data?: Record<string, string> }>(
      this.creds,
      `/api/v1/namespaces/${SPIRE_NAMESPACE}/configmaps/${CONTROLLER_MANAGER_CONFIGMAP.name}`,
    );
    const applied = cm?.data?.[CONTROLLER_MANAGER_CONFIGMAP.key];
    if (!crdEstablished(crd) || !applied) {
      await manager.ensure(
        false,
        !applied
          ? 'the action applied no ConfigMap for it'
          : `${CONTROLLER_MANAGER_GATE_CRD} is not Established`,
      );
      return;
    }
    const file = spireControllerManagerConfigPath(this.layout);
    const conf = hostSpireControllerManagerConfig(this.layout, applied);
    const running = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (conf !== running) {
      await manager.ensure(false, 'its ConfigMap changed');
      writeFileSync(file, conf);
    }
    await manager.ensure(true, 'its CRDs are Established and the action applied its ConfigMap');
  }

  /** The watched `certificates.cert-manager.io` CRD changed (undefined: it is gone). */
  gateChanged(crd: CrdLike | undefined): void {
    this.gateCrd = crd;
    void this.reconcile();
  }

  /** Runs one pass; a call during a pass makes one more pass after it. */
  reconcile(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return this.busy;
    }
    this.busy = (async () => {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch (err) {
          this.log(`add-ons: ${(err as Error).message}`);
        }
      } while (this.again);
    })().finally(() => {
      this.busy = undefined;
    });
    return this.busy;
  }

  private async pass(): Promise<void> {
    await this.registrar?.ensure(true, 'pods and nodes are enough');
    await this.ensureControllerManager();
    if (!crdEstablished(this.gateCrd)) {
      this.noteWaiting('');
      const state = !this.gateCrd
        ? 'is gone'
        : this.gateCrd.metadata?.deletionTimestamp
          ? 'is being deleted'
          : 'is not Established';
      await this.certManager.ensure(false, `${CERT_MANAGER_GATE_CRD} ${state}`);
      return;
    }
    // Only checked before a start: a running controller is stopped by the gate CRD alone.
    if (!this.certManager.runningPid()) {
      const missing = await missingCertManagerCrds(this.creds);
      if (missing.length > 0) {
        this.noteWaiting(missing.join(', '));
        // They are usually applied together with the gate CRD: look again soon, not in 2 s.
        setTimeout(() => void this.reconcile(), 250).unref();
        return;
      }
    }
    this.noteWaiting('');
    await this.certManager.ensure(true, 'cert-manager CRDs are Established');
  }

  private noteWaiting(missing: string): void {
    if (missing && missing !== this.waitingFor) {
      this.log(`${CERT_MANAGER_CONTROLLER} waits for CRDs to be Established: ${missing}`);
    }
    this.waitingFor = missing;
  }
}
