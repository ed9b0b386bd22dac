// Container images. Registries come from the config; tags that are not
// versions the user picks are pinned here.
import type { Config } from '../config/config.ts';

export const DEFAULT_SPIRE_REGISTRY = 'ghcr.io/spiffe';
export const DEFAULT_EXAMPLES_REGISTRY = 'docker.io/istio';

/**
 * SPIRE never published k8s-workload-registrar to ghcr.io: its release scripts
 * push only spire-server, spire-agent and the OIDC provider there, and keep
 * the registrar on gcr.io/spiffe-io up to its last release, 1.5.4
 * (spiffe/spire v1.5.x .github/workflows/scripts/push-*.sh; spire #3458).
 * A non-default registry is taken to be a mirror holding all four images.
 */
export const SPIRE_REGISTRAR_LEGACY_REGISTRY = 'gcr.io/spiffe-io';
/** Where kubernetes-csi publishes node-driver-registrar; its tag is a profile pin. */
export const NODE_DRIVER_REGISTRAR_REPOSITORY =
  'registry.k8s.io/sig-storage/csi-node-driver-registrar';
/** Tags of Istio's sample images on docker.io/istio as Istio 1.22's samples use them. */
export const HELLOWORLD_TAG = '1.0';
export const BOOKINFO_TAG = '1.19.1';
/**
 * The sleep client is Istio's `curlimages/curl` sample image; docker.io/istio
 * has no curl image, so the default registry maps to curlimages.
 */
export const CURL_IMAGE_TAG = '8.16.0';
const DEFAULT_CURL_REGISTRY = 'docker.io/curlimages';

export interface SpireImages {
  server: string;
  agent: string;
  registrar: string;
  controllerManager: string;
  csiDriver: string;
  nodeDriverRegistrar: string;
}

export function spireImages(config: Config): SpireImages {
  const registry = config.images.spireRegistry;
  const version = config.versions.spire;
  const registrarRegistry =
    registry === DEFAULT_SPIRE_REGISTRY ? SPIRE_REGISTRAR_LEGACY_REGISTRY : registry;
  return {
    server: `${registry}/spire-server:${version}`,
    agent: `${registry}/spire-agent:${version}`,
    registrar:
      config.images.spireRegistrar || `${registrarRegistry}/k8s-workload-registrar:${version}`,
    controllerManager: `${registry}/spire-controller-manager:${config.versions.spireControllerManager}`,
    csiDriver: `${registry}/spiffe-csi-driver:${config.versions.spiffeCsiDriver}`,
    nodeDriverRegistrar:
      config.images.nodeDriverRegistrar ||
      `${NODE_DRIVER_REGISTRAR_REPOSITORY}:${config.versions.nodeDriverRegistrar}`,
  };
}

export function exampleImage(config: Config, name: string, tag: string): string {
  return `${config.images.examplesRegistry}/${name}:${tag}`;
}

export function curlImage(config: Config): string {
  const registry = config.images.examplesRegistry;
  return `${registry === DEFAULT_EXAMPLES_REGISTRY ? DEFAULT_CURL_REGISTRY : registry}/curl:${CURL_IMAGE_TAG}`;
}
