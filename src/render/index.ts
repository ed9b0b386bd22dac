// Rendering: Config (+ facts learnt from the clusters) -> the Kubernetes
// objects of each install phase on each cluster. Pure: the templates of
// manifests/ are embedded in the bundle.
import YAML from 'yaml';
import {
  INSTALL_PHASES,
  type ClusterConfig,
  type Config,
  type InstallPhase,
} from '../config/config.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { renderCertManager } from './cert-manager.ts';
import { renderExamples } from './examples.ts';
import type { RenderFacts } from './federation.ts';
import { renderIstio, renderIstioOperators } from './istio.ts';
import { renderSpire } from './spire.ts';

export type { RenderFacts } from './federation.ts';
export { renderCacertsCertificate } from './cert-manager.ts';
export { renderIngress } from './examples.ts';
export { labelObject } from './labels.ts';

export interface RenderedPhase {
  phase: InstallPhase;
  cluster: ClusterConfig;
  /** Applied with server-side apply; every one carries the ownership labels. */
  objects: K8sObject[];
  /**
   * istio phase only: the IstioOperator documents (control plane, east-west
   * gateway), each to be fed to its own `istioctl manifest generate -f`
   * (several -f files would be merged into one operator); [] elsewhere.
   */
  istioOperators: K8sObject[];
}

export function renderPhase(
  config: Config,
  phase: InstallPhase,
  cluster: ClusterConfig,
  facts?: RenderFacts,
): RenderedPhase {
  switch (phase) {
    case 'cert-manager':
      return { phase, cluster, objects: renderCertManager(config, cluster), istioOperators: [] };
    case 'spire':
      return { phase, cluster, objects: renderSpire(config, cluster, facts), istioOperators: [] };
    case 'istio':
      return {
        phase,
        cluster,
        objects: renderIstio(cluster),
        istioOperators: renderIstioOperators(config, cluster, facts),
      };
    case 'examples':
      return { phase, cluster, objects: renderExamples(config, cluster), istioOperators: [] };
  }
}

/** Every install phase on every cluster, in phase order, then cluster order. */
export function renderPlan(config: Config, facts?: RenderFacts): RenderedPhase[] {
  return INSTALL_PHASES.flatMap((phase) =>
    config.clusters.map((cluster) => renderPhase(config, phase, cluster, facts)),
  );
}

/** Multi-document YAML, one document per object, long strings never folded. */
export function toYaml(objects: readonly K8sObject[]): string {
  return objects.map((o) => YAML.stringify(o, { lineWidth: 0 })).join('---\n');
}
