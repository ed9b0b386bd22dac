import { artifactUrl } from './download.ts';
import { fetchManifestObjects } from './manifest-download.ts';
import type { K8sObject } from '../model/k8s-object.ts';

/** The objects of `<base>/<version>/cert-manager.yaml`, cached per version. */
export async function fetchCertManagerRelease(
  version: string,
  baseUrl: string,
): Promise<K8sObject[]> {
  return fetchManifestObjects(
    {
      source: {
        component: 'cert-manager manifest',
        version,
        versionInput: 'cert-manager-version',
        baseUrlInput: 'cert-manager-base-url',
      },
      tool: 'cert-manager-manifest',
      file: 'cert-manager.yaml',
      url: artifactUrl(baseUrl, version, 'cert-manager.yaml'),
      baseUrlInput: 'cert-manager-base-url',
    },
    `cert-manager ${version} release manifest`,
  );
}
