// Real mode (MESH_RIG_REAL): one real node per cluster (kubelet, containerd, runc; test/rig/node)
// runs the pods of the listed namespaces. `up` builds the images those pods name and joins the
// nodes; `down` takes them away first. Each script's output goes to a log in the state folder,
// whose tail an error carries.
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterLayout, RigLayout } from './layout.ts';

const NODE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'node');

/** Every namespace of the action's run: the whole mesh on real nodes. */
export const REAL_MESH_NAMESPACES = ['spire', 'istio-system', 'sleep', 'helloworld', 'bookinfo'];

/**
 * The names images.sh gives the images it assembles (never upstream's: they hold other builds).
 * A run selects them through inputs a user with a mirror sets the same way.
 */
export const RIG_IMAGES = {
  istioHub: 'mesh-rig.local/istio',
  examplesRegistry: 'mesh-rig.local/examples',
  csiNodeDriverRegistrar: 'mesh-rig.local/csi-register:1',
} as const;

/** The node node-up.sh joins to a cluster (env.sh's NODE). */
export function realNodeName(c: ClusterLayout): string {
  return `${c.name}-real-1`;
}

export function realNodesLog(rig: RigLayout): string {
  return join(rig.stateDir, 'real-nodes.log');
}

function nodeScript(rig: RigLayout, script: string, args: string[]): Promise<void> {
  const log = realNodesLog(rig);
  appendFileSync(log, `\n### ${script} ${args.join(' ')} (${new Date().toISOString()})\n`);
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(NODE_DIR, script), ...args], {
      env: {
        ...process.env,
        MESH_RIG_STATE: rig.stateDir,
        MESH_RIG_CACHE: rig.cacheDir,
        MESH_RIG_INSTANCE: String(rig.instance),
        MESH_RIG_PROFILE: rig.spireProfile,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const write = (d: Buffer) => appendFileSync(log, d);
    child.stdout.on('data', write);
    child.stderr.on('data', write);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) return resolve();
      const tail = readFileSync(log, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
      reject(new Error(`${script} ${args.join(' ')} exited ${code} (log ${log}):\n${tail}`));
    });
  });
}

/** Builds (or finds cached) the images, then joins one real node per cluster. */
export async function ensureRealNodes(rig: RigLayout): Promise<void> {
  await nodeScript(rig, 'images.sh', ['--profile', rig.spireProfile]);
  // One at a time: the first node starts the instance's registry and backbone.
  for (const c of rig.clusters) await nodeScript(rig, 'node-up.sh', [String(c.index)]);
}

/** Takes the real nodes away (a node whose state is gone is skipped by the script). */
export async function stopRealNodes(rig: RigLayout): Promise<void> {
  for (const c of [...rig.clusters].reverse())
    await nodeScript(rig, 'node-down.sh', [String(c.index)]);
}

/**
 * The rig of the README's demo: the whole mesh on real nodes, on an instance of its own so it
 * never meets the tests' rigs. Values already in the environment win.
 */
export function useRealDemoRig(env: NodeJS.ProcessEnv = process.env): void {
  env.MESH_RIG_REAL ||= REAL_MESH_NAMESPACES.join(',');
  env.MESH_RIG_INSTANCE ||= '2';
  env.MESH_RIG_STATE ||= '/tmp/mesh-rig-real';
  env.MESH_RIG_PORT_BASE ||= '16000';
}
