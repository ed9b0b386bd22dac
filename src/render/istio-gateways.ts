// Gateways need the sidecar injector: istioctl renders their pods with
// `image: auto`, which only istiod's injection webhook turns into the proxy
// image. A gateway pod created before that webhook is registered and answering
// keeps `image: auto`, never starts, and no re-apply of the Deployment fixes
// it. So the istio phase applies everything else first, probes the injector,
// then the gateways (as `istioctl install` waits for Pilot before them).
import type { K8sObject } from '../model/k8s-object.ts';

/** The placeholder image the injector replaces. */
export const INJECTED_IMAGE = 'auto';

interface PodSpecShape {
  containers?: { image?: string }[];
  initContainers?: { image?: string }[];
}
interface PodTemplateShape {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: PodSpecShape;
}
interface WorkloadShape {
  spec?: { template?: PodTemplateShape; selector?: { matchLabels?: Record<string, string> } };
}

const WORKLOAD_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);

function namesInjectedImage(spec: PodSpecShape | undefined): boolean {
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].some(
    (c) => c.image === INJECTED_IMAGE,
  );
}

/** A workload whose pods only start once the injector has filled in their image. */
export function needsInjector(o: K8sObject): boolean {
  return (
    WORKLOAD_KINDS.has(o.kind) && namesInjectedImage((o as WorkloadShape).spec?.template?.spec)
  );
}

/** A pod (as stored, or as admission returned it) that still names `image: auto`. */
export function isUninjectedPod(pod: K8sObject): boolean {
  return namesInjectedImage((pod as { spec?: PodSpecShape }).spec);
}

/** Splits istioctl's output into what goes before the injector answers and the gateways after. */
export function splitByInjection(objects: K8sObject[]): {
  controlPlane: K8sObject[];
  gateways: K8sObject[];
} {
  return {
    controlPlane: objects.filter((o) => !needsInjector(o)),
    gateways: objects.filter(needsInjector),
  };
}

/**
 * A Pod made from a gateway's pod template, for a dry-run create: if admission
 * hands it back with the image filled in, the injector is registered and
 * answering for exactly the pods this gateway will create.
 */
export function injectionProbePod(workload: K8sObject): K8sObject {
  const template = (workload as WorkloadShape).spec?.template ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${workload.metadata.name}-injection-probe`,
      ...(workload.metadata.namespace ? { namespace: workload.metadata.namespace } : {}),
      labels: template.metadata?.labels ?? {},
      annotations: template.metadata?.annotations ?? {},
    },
    spec: template.spec ?? {},
  };
}

/** The label selector of a workload's pods, for finding pods created before the injector. */
export function podSelector(workload: K8sObject): string {
  const labels = (workload as WorkloadShape).spec?.selector?.matchLabels ?? {};
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
