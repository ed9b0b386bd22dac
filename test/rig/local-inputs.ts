// What the README's run command and the end-to-end tests need from the rig:
// its binaries, and the action inputs that point at it.
import fs from 'node:fs';
import { loadBinaries, type Binaries } from './binaries.ts';
import { rigLayout } from './layout.ts';
import { up } from './rig.ts';
import { startArtifactServer } from './artifact-server.ts';

export function rigBinaries(): Binaries {
  return loadBinaries(rigLayout().cacheDir, ['istioctl']);
}

/** Starts (or reuses) the rig and an artifact server; returns INPUT_* variables for the action. */
export async function rigInputs(): Promise<{ env: Record<string, string>; stop: () => void }> {
  rigBinaries();
  const rig = await up();
  const artifacts = await startArtifactServer();
  const env: Record<string, string> = {
    INPUT_KUBECONFIG: fs.readFileSync(rig.kubeconfig, 'utf8'),
    INPUT_CONTEXTS: rig.contexts.join(','),
    'INPUT_ISTIO-VERSION': artifacts.versions.istio,
    'INPUT_ISTIOCTL-BASE-URL': artifacts.istioctlBaseUrl,
    'INPUT_CERT-MANAGER-VERSION': artifacts.versions.certManager,
    'INPUT_CERT-MANAGER-BASE-URL': artifacts.certManagerBaseUrl,
    // No data plane on the rig: traffic and proxy certificates need real Envoys.
    'INPUT_VERIFY-CHECKS': 'readiness,identities,federation',
    INPUT_TIMEOUT: '4m',
  };
  return { env, stop: () => void artifacts.close() };
}
