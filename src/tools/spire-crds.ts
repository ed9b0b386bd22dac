import { artifactUrl } from './download.ts';
import { fetchManifestObjects } from './manifest-download.ts';
import type { K8sObject } from '../model/k8s-object.ts';

/**
 * The custom resources the SPIRE Controller Manager reads, as its release tag holds them
 * (config/crd/bases in spiffe/spire-controller-manager); the controller manager must run
 * with the CRDs of its own version.
 */
export const SPIRE_CRD_PLURALS = [
  'clusterfederatedtrustdomains',
  'clusterspiffeids',
  'clusterstaticentries',
] as const;

/** `<base>/v<version>/config/crd/bases/spire.spiffe.io_<plural>.yaml`, each cached per version. */
export async function fetchSpireCrds(version: string, baseUrl: string): Promise<K8sObject[]> {
  const tag = `v${version.replace(/^v/, '')}`;
  const crds = await Promise.all(
    SPIRE_CRD_PLURALS.map((plural) => {
      const file = `spire.spiffe.io_${plural}.yaml`;
      return fetchManifestObjects(
        {
          source: {
            component: `SPIRE Controller Manager CRD ${plural}`,
            version: tag,
            versionInput: 'spire-controller-manager-version',
            baseUrlInput: 'spire-crds-base-url',
          },
          tool: `spire-crd-${plural}`,
          file,
          url: artifactUrl(baseUrl, tag, 'config', 'crd', 'bases', file),
          baseUrlInput: 'spire-crds-base-url',
        },
        'SPIRE Controller Manager CRDs',
      );
    }),
  );
  return crds.flat();
}
