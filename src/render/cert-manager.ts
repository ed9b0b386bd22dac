// cert-manager phase (seed: cert-manager/install-cert-manager.sh): the root CA,
// the CA issuer SPIRE signs its intermediate with, and istiod's `cacerts`.
// The cert-manager release manifest itself is downloaded, not rendered.
import type { ClusterConfig, Config } from '../config/config.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import {
  CACERTS,
  CERT_MANAGER_NAMESPACE,
  ISTIO_NAMESPACE,
  ROOT_CA_CERTIFICATE,
  ROOT_CA_SECRET,
} from '../model/names.ts';
import { labelObject } from './labels.ts';
import { renderTemplate } from './template.ts';

export const SELF_SIGNED_ISSUER = 'mesh-selfsigned';
/** The CA ClusterIssuer backed by the root CA secret; SPIRE's UpstreamAuthority names it. */
export const CERT_MANAGER_ISSUER = {
  name: 'mesh-root-ca',
  kind: 'ClusterIssuer',
  group: 'cert-manager.io',
} as const;
/** cacerts lifetime the cert-manager phase installs, as in the seed; `rotate` changes it. */
export const CACERTS_DURATION = '1440h';
export const CACERTS_RENEW_BEFORE = '360h';

export function istioSystemNamespace(cluster: ClusterConfig, phase: string): K8sObject {
  const [namespace] = renderTemplate('istio/namespace.yaml', {
    namespace: ISTIO_NAMESPACE,
    network: cluster.network,
  }) as K8sObject[];
  return labelObject(namespace as K8sObject, phase);
}

export function renderCacertsCertificate(
  cluster: ClusterConfig,
  duration: string,
  renewBefore: string,
): K8sObject {
  const [certificate] = renderTemplate('cert-manager/cacerts.yaml', {
    name: CACERTS.name,
    namespace: CACERTS.namespace,
    trustDomain: cluster.trustDomain,
    duration,
    renewBefore,
    caIssuer: CERT_MANAGER_ISSUER.name,
  }) as K8sObject[];
  return labelObject(certificate as K8sObject, 'cert-manager');
}

export function renderCertManager(config: Config, cluster: ClusterConfig): K8sObject[] {
  const rootCa = renderTemplate('cert-manager/root-ca.yaml', {
    selfSignedIssuer: SELF_SIGNED_ISSUER,
    rootCertificate: ROOT_CA_CERTIFICATE,
    rootSecret: ROOT_CA_SECRET,
    certManagerNamespace: CERT_MANAGER_NAMESPACE,
    caIssuer: CERT_MANAGER_ISSUER.name,
    trustDomain: cluster.trustDomain,
  }) as K8sObject[];
  return [
    ...rootCa.map((o) => labelObject(o, 'cert-manager')),
    istioSystemNamespace(cluster, 'cert-manager'),
    renderCacertsCertificate(cluster, CACERTS_DURATION, CACERTS_RENEW_BEFORE),
  ];
}
