// A ClusterClient (context `local`) for a test server on 127.0.0.1 that speaks
// a part of the API server's protocol; it has no istioctl.
import { ClusterClient } from '../../src/cluster/client.ts';
import { Istioctl } from '../../src/cluster/istioctl.ts';

export function localClient(port: number, timeoutMs: number): ClusterClient {
  const server = `http://127.0.0.1:${port}`;
  const kubeconfig = `
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: '${server}', insecure-skip-tls-verify: true}}]
users: [{name: nobody, user: {}}]
contexts: [{name: local, context: {cluster: local, user: nobody}}]
current-context: local
`;
  return new ClusterClient(
    {
      index: 0,
      context: 'local',
      name: 'local',
      trustDomain: 'foo.com',
      network: 'n',
      apiServer: '',
    },
    server,
    kubeconfig,
    timeoutMs,
    new Istioctl(() => Promise.reject(new Error('no istioctl in this test')), '/dev/null', '/tmp'),
  );
}

/** The core API's discovery answer for a test server that serves ConfigMaps with `verbs`. */
export const configMapDiscovery = (verbs: string[]): string =>
  JSON.stringify({
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [{ name: 'configmaps', kind: 'ConfigMap', namespaced: true, verbs }],
  });
