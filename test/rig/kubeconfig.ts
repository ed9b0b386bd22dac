// Kubeconfigs with embedded admin client certificates: one per cluster for its own
// components, and the merged one (contexts cluster-1, cluster-2) that tests and the action use.

import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { apiserverUrl, pkiPaths, type ClusterLayout } from './layout.ts';

const b64 = (file: string) => readFileSync(file).toString('base64');

export function kubeconfigYaml(clusters: ClusterLayout[], current = clusters[0]!.name): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: clusters.map((c) => ({
      name: c.name,
      cluster: { server: apiserverUrl(c), 'certificate-authority-data': b64(pkiPaths(c).caCert) },
    })),
    users: clusters.map((c) => ({
      name: `${c.name}-admin`,
      user: {
        'client-certificate-data': b64(pkiPaths(c).adminCert),
        'client-key-data': b64(pkiPaths(c).adminKey),
      },
    })),
    contexts: clusters.map((c) => ({
      name: c.name,
      context: { cluster: c.name, user: `${c.name}-admin` },
    })),
    'current-context': current,
  });
}

/** Writes with mode 0600: the file holds client keys. */
export function writeKubeconfig(path: string, clusters: ClusterLayout[]): void {
  writeFileSync(path, kubeconfigYaml(clusters), { mode: 0o600 });
  chmodSync(path, 0o600);
}
