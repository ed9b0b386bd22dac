// Rig instances of their own for tests that must not meet the e2e rig (instance 0): their own
// state folder, ports and address plan (layout.ts), and an artifact server beside each.
import fs from 'node:fs';
import { up } from './rig.ts';
import { rigLayout, type RigLayout } from './layout.ts';
import { startArtifactServer, type ArtifactServer } from './artifact-server.ts';

export interface IsolatedRig {
  layout: RigLayout;
  /** The rig's kubeconfig, straight to its API servers. */
  direct: string;
  artifacts: ArtifactServer;
}

interface Instance {
  instance: number;
  state: string;
  portBase: number;
  /** One per cluster; the default is the rig's two. */
  trustDomains?: string[];
}

/** The fault tests share this one. */
export const FAULTS_RIG: Instance = { instance: 3, state: '/tmp/mesh-rig-faults', portBase: 10000 };
/** Three clusters in one federation; ports 25000-27999, under the kernel's ephemeral range. */
export const THREE_CLUSTER_RIG: Instance = {
  instance: 5,
  state: '/tmp/mesh-rig-three',
  portBase: 24000,
  trustDomains: ['foo.com', 'bar.com', 'baz.com'],
};

export async function startIsolatedRig(settings: Instance): Promise<IsolatedRig> {
  // The rig reads its layout from these (the artifact server and the inputs too).
  Object.assign(process.env, {
    MESH_RIG_INSTANCE: String(settings.instance),
    MESH_RIG_STATE: settings.state,
    MESH_RIG_PORT_BASE: String(settings.portBase),
    ...(settings.trustDomains ? { MESH_RIG_TRUST_DOMAINS: settings.trustDomains.join(',') } : {}),
  });
  const layout = rigLayout();
  const rig = await up(layout);
  return {
    layout,
    direct: fs.readFileSync(rig.kubeconfig, 'utf8'),
    artifacts: await startArtifactServer(),
  };
}
