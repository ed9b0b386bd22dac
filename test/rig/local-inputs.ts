// What the README's run command and the end-to-end tests need from the rig:
// its binaries, and the action inputs that point at it.
import fs from 'node:fs';
import { loadBinaries, type Binaries } from './binaries.ts';
import { firstServiceIp, rigLayout, type RigLayout } from './layout.ts';
import { up } from './rig.ts';
import { startArtifactServer, type ArtifactServer } from './artifact-server.ts';
import { RIG_IMAGES } from './real-nodes.ts';

/** What bin-build's spire-1-15 family builds (spire-server-1-15), the current profile's pin. */
export const CURRENT_SPIRE_VERSION = '1.15.3';
/** What bin-build's spiffe-csi builds, and images.sh's current set runs. */
export const CURRENT_CSI_DRIVER_VERSION = '0.2.6';

/**
 * The rig's proxies are upstream Envoy, which refuses the Istio-only filters
 * istiod sends by default (metadata exchange, ALPN, stats): a user running
 * upstream Envoy would set the same (see ../shared/notes/dataplane-facts.md).
 */
export const UPSTREAM_ENVOY_OVERLAY = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  values:
    pilot:
      env:
        PILOT_ENABLE_METADATA_EXCHANGE: "false"
        PILOT_ENABLE_ALPN_FILTER: "false"
    telemetry:
      enabled: false
`;

/**
 * With Istio's pods on real nodes (MESH_RIG_REAL has istio-system, test/rig/node), images come
 * only from what the node imported: Istio's injection templates default the proxy's pull policy
 * to Always, which asks a registry every start. A user with preloaded images sets the same.
 */
export const PRELOADED_IMAGES_OVERLAY = `    global:
      imagePullPolicy: IfNotPresent
`;

export function rigBinaries(): Binaries {
  return loadBinaries(rigLayout().cacheDir, ['istioctl']);
}

/**
 * What a run needs when namespaces run on real nodes (MESH_RIG_REAL, test/rig/node): the images
 * assembled there, under their own names, through the inputs a user with a mirror sets; and API
 * server addresses the other cluster's istiod can reach from a pod (each `kubernetes` ClusterIP,
 * routed between the nodes), where a user's clusters would have their public endpoints.
 */
function realNodeInputs(rig: RigLayout): Record<string, string> {
  const real = (ns: string) => rig.realNamespaces.includes(ns);
  return {
    ...(real('spire')
      ? { 'csi-node-driver-registrar-image': RIG_IMAGES.csiNodeDriverRegistrar }
      : {}),
    ...(real('istio-system')
      ? {
          'istio-hub': RIG_IMAGES.istioHub,
          'api-servers': rig.clusters.map((c) => `https://${firstServiceIp(c)}:443`).join(','),
        }
      : {}),
    ...(['sleep', 'helloworld', 'bookinfo'].some(real)
      ? { 'examples-image-registry': RIG_IMAGES.examplesRegistry }
      : {}),
  };
}

/**
 * Profile current as the rig can run it: its SPIRE and controller manager are the pins (built
 * here from the same modules), while Istio and cert-manager are the versions the rig built
 * (the Go module proxy refuses the pinned releases' commits), set as a user overrides a pin.
 */
function currentProfileInputs(rig: RigLayout, artifacts: ArtifactServer): Record<string, string> {
  return {
    profile: 'current',
    'spire-version': CURRENT_SPIRE_VERSION,
    'spire-controller-manager-version': artifacts.versions.spireControllerManager,
    'spire-crds-base-url': artifacts.spireCrdsBaseUrl,
    // The agents' CSI driver runs only on real nodes; its image is the build the Go module
    // proxy serves (it refuses the pin's v0.2.7).
    ...(rig.realNamespaces.includes('spire')
      ? { 'spiffe-csi-driver-version': CURRENT_CSI_DRIVER_VERSION }
      : {}),
  };
}

/** The action's inputs for one phase against the rig, its artifacts served by `artifacts`. */
export function rigActionInputs(
  phase: string,
  kubeconfig: string,
  contexts: string[],
  artifacts: ArtifactServer,
): Record<string, string> {
  const rig = rigLayout();
  return {
    phase,
    kubeconfig,
    contexts: contexts.join(','),
    // The rig's own SPIRE servers (all-kwok) run these: a user names theirs the same way.
    'trust-domains': rig.clusters.map((c) => c.trustDomain).join(','),
    'istio-version': artifacts.versions.istio,
    'istioctl-base-url': artifacts.istioctlBaseUrl,
    'cert-manager-version': artifacts.versions.certManager,
    'cert-manager-base-url': artifacts.certManagerBaseUrl,
    // Traffic and proxy certificate checks need real Envoys, which the rig has only when the
    // sample apps' namespaces run on real nodes; otherwise they are listed as not run.
    'verify-checks': rig.realNamespaces.includes('sleep')
      ? 'readiness,identities,federation,chain,east-west,north-south'
      : 'readiness,identities,federation',
    'istio-overlay': rig.realNamespaces.includes('istio-system')
      ? UPSTREAM_ENVOY_OVERLAY + PRELOADED_IMAGES_OVERLAY
      : UPSTREAM_ENVOY_OVERLAY,
    ...realNodeInputs(rig),
    ...(rig.spireProfile === 'current' ? currentProfileInputs(rig, artifacts) : {}),
    timeout: '4m',
  };
}

/** Starts (or reuses) the rig and an artifact server; returns INPUT_* variables for the action. */
export async function rigInputs(
  phase: string,
): Promise<{ env: Record<string, string>; stop: () => void }> {
  rigBinaries();
  const rig = await up();
  const artifacts = await startArtifactServer();
  const inputs = rigActionInputs(
    phase,
    fs.readFileSync(rig.kubeconfig, 'utf8'),
    rig.contexts,
    artifacts,
  );
  const env = Object.fromEntries(
    Object.entries(inputs).map(([name, value]) => [`INPUT_${name.toUpperCase()}`, value]),
  );
  return { env, stop: () => void artifacts.close() };
}
