// Names the phases look up in the clusters. The templates under manifests/
// must use the same ones (render tests check that they do).
export const CERT_MANAGER_NAMESPACE = 'cert-manager';
/** Secret of the self-signed root CA that the CA ClusterIssuer signs with. */
export const ROOT_CA_SECRET = 'mesh-root-ca';
export const ROOT_CA_CERTIFICATE = 'mesh-root-ca';
export const CACERTS = { namespace: 'istio-system', name: 'cacerts' };

export const SPIRE_NAMESPACE = 'spire';
export const SPIRE_SERVER = {
  /** In-cluster only (ClusterIP): the server API the agents call. */
  service: 'spire-server',
  /** The one port published outside the cluster: the federation bundle endpoint. */
  bundleService: 'spire-server-bundle-endpoint',
  statefulSet: 'spire-server',
  pod: 'spire-server-0',
  container: 'spire-server',
  /** Relative to the image's working directory /opt/spire, as in the seed. */
  binary: './bin/spire-server',
  socket: '/run/spire/sockets/server.sock',
  bundlePort: 8443,
};

export const ISTIO_NAMESPACE = 'istio-system';
/** The ServiceAccount whose token the remote secrets carry (istioctl's default), and that token. */
export const ISTIO_READER = {
  serviceAccount: 'istio-reader-service-account',
  tokenSecret: 'istio-reader-service-account-mesh-federation-token',
};
export const INGRESS_GATEWAY_SERVICE = 'istio-ingressgateway';
/** The east-west gateway and its mTLS passthrough port (AUTO_PASSTHROUGH, routed by SNI). */
export const EASTWEST_GATEWAY = { service: 'istio-eastwestgateway', tlsPort: 15443 };
export const EXAMPLES = {
  helloworld: { namespace: 'helloworld', service: 'helloworld', port: 5000, path: '/hello' },
  sleep: { namespace: 'sleep', app: 'sleep', container: 'sleep' },
  bookinfo: { namespace: 'bookinfo', productpage: 'productpage-v1' },
};

/**
 * The Lease a run holds on each cluster while it changes anything, so two runs
 * (a PR preview and a nightly rebuild) never interleave. kube-system exists on
 * every cluster and is never the action's to delete.
 */
export const RUN_LOCK = {
  namespace: 'kube-system',
  name: 'mesh-federation-run',
  holderAnnotation: 'mesh-federation.io/holder',
};
