// Rig instances of their own for tests that must not meet the e2e rig (instance 0): their own
// state folder, ports and address plan (layout.ts), and an artifact server beside each.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rigActionInputs, rigBinaries } from './local-inputs.ts';
import { installedState } from '../e2e/labelled.ts';
import { down, up } from './rig.ts';
import { apiserverUrl, rigLayout, type RigLayout, type RigSpireProfile } from './layout.ts';
import { startArtifactServer, type ArtifactServer } from './artifact-server.ts';
import { REAL_MESH_NAMESPACES } from './real-nodes.ts';

export interface IsolatedRig {
  layout: RigLayout;
  /** The rig's kubeconfig, straight to its API servers. */
  direct: string;
  /** The same in a file of its own (0600), for kubectl. */
  kubeconfigFile: string;
  contexts: string[];
  artifacts: ArtifactServer;
  /** The action's inputs for one phase on this rig. */
  inputs(phase: string): Record<string, string>;
  /**
   * The inputs of `phase` with another kubeconfig (through proxies): the remote secrets must
   * still name the API servers themselves, as a user behind a proxy would set them.
   */
  throughProxy(kubeconfig: string, phase?: string): Record<string, string>;
  /** What the action left on each cluster (labelled objects, ReplicaSets per Deployment). */
  installed(): Promise<Record<string, string[]>>;
  /** Closes the artifact server, removes the kubeconfig file and takes the rig down (kept with MESH_RIG_KEEP=1). */
  stop(): Promise<void>;
}

interface Instance {
  instance: number;
  state: string;
  portBase: number;
  /** One per cluster; the default is the rig's two. */
  trustDomains?: string[];
  profile?: RigSpireProfile;
  /** Namespaces whose pods run on one real node per cluster (MESH_RIG_REAL, test/rig/node). */
  real?: readonly string[];
  /** Shared by tests that each take it down after: whatever a killed run left goes first. */
  fresh?: boolean;
}

/** The fault tests share this one. */
export const FAULTS_RIG: Instance = { instance: 3, state: '/tmp/mesh-rig-faults', portBase: 10000 };
// Instance 5 is shared by tests that each take it down after (and before, in case a killed
// run left it up): ports 25000-27999, under the kernel's ephemeral range.
const INSTANCE_5 = { instance: 5, state: '/tmp/mesh-rig-5', portBase: 24000, fresh: true };
/** Three clusters in one federation. */
export const THREE_CLUSTER_RIG: Instance = {
  ...INSTANCE_5,
  trustDomains: ['foo.com', 'bar.com', 'baz.com'],
};
/** The current profile: SPIRE 1.15 with the SPIRE Controller Manager. */
export const CURRENT_PROFILE_RIG: Instance = { ...INSTANCE_5, profile: 'current' };
// Instance 1: the whole mesh on real nodes, one profile after the other.
const REAL_NODES = {
  instance: 1,
  state: '/tmp/mesh-rig-real-e2e',
  portBase: 14000,
  real: REAL_MESH_NAMESPACES,
  fresh: true,
};
export const REAL_NODES_RIG: Instance = REAL_NODES;
export const CURRENT_REAL_NODES_RIG: Instance = { ...REAL_NODES, profile: 'current' };

export async function startIsolatedRig(settings: Instance): Promise<IsolatedRig> {
  // The rig reads its layout from these (the artifact server and the inputs too).
  Object.assign(process.env, {
    MESH_RIG_INSTANCE: String(settings.instance),
    MESH_RIG_STATE: settings.state,
    MESH_RIG_PORT_BASE: String(settings.portBase),
    MESH_RIG_TRUST_DOMAINS: (settings.trustDomains ?? ['foo.com', 'bar.com']).join(','),
    MESH_RIG_PROFILE: settings.profile ?? 'seed',
    MESH_RIG_REAL: (settings.real ?? []).join(','),
  });
  const layout = rigLayout();
  // Whatever a killed run left here may be another shape of rig: start from nothing.
  if (settings.fresh) await down(layout);
  const rig = await up(layout);
  const direct = fs.readFileSync(rig.kubeconfig, 'utf8');
  const artifacts = await startArtifactServer();
  const contexts = layout.clusters.map((c) => c.name);
  const kubeconfigFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mf-rig-')), 'kubeconfig');
  fs.writeFileSync(kubeconfigFile, direct, { mode: 0o600 });
  return {
    layout,
    direct,
    kubeconfigFile,
    contexts,
    artifacts,
    inputs: (phase) => rigActionInputs(phase, direct, contexts, artifacts),
    throughProxy: (kubeconfig, phase = 'all') => ({
      ...rigActionInputs(phase, kubeconfig, contexts, artifacts),
      'api-servers': layout.clusters.map(apiserverUrl).join(','),
    }),
    installed: () => installedState(rigBinaries().kubectl, kubeconfigFile, contexts),
    stop: async () => {
      await artifacts.close();
      fs.rmSync(path.dirname(kubeconfigFile), { recursive: true, force: true });
      if (process.env.MESH_RIG_KEEP !== '1') await down(layout);
    },
  };
}
