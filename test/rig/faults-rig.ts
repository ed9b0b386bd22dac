// The rig instance the fault tests share: its own state folder and ports, so
// it never meets the e2e rig, and an artifact server beside it.
import fs from 'node:fs';
import { up } from './rig.ts';
import { rigLayout, type RigLayout } from './layout.ts';
import { startArtifactServer, type ArtifactServer } from './artifact-server.ts';

export interface FaultsRig {
  layout: RigLayout;
  /** The rig's kubeconfig, straight to its API servers. */
  direct: string;
  artifacts: ArtifactServer;
}

export async function startFaultsRig(): Promise<FaultsRig> {
  // The rig reads its layout from these (the artifact server and the inputs too).
  Object.assign(process.env, {
    MESH_RIG_INSTANCE: '3',
    MESH_RIG_STATE: '/tmp/mesh-rig-faults',
    MESH_RIG_PORT_BASE: '10000',
  });
  const layout = rigLayout();
  const rig = await up(layout);
  return {
    layout,
    direct: fs.readFileSync(rig.kubeconfig, 'utf8'),
    artifacts: await startArtifactServer(),
  };
}
