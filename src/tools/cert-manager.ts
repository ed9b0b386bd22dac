import { artifactUrl } from './download.ts';
import { fetchManifest } from './manifest-download.ts';

/** The YAML of `<base>/<version>/cert-manager.yaml`, cached per version. */
export async function fetchCertManagerManifest(version: string, baseUrl: string): Promise<string> {
  return fetchManifest({
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
  });
}
