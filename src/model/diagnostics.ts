// What the diagnostics folder is made from, per cluster.
import type { K8sObject } from './k8s-object.ts';

export interface PodLog {
  namespace: string;
  pod: string;
  container: string;
  text: string;
}

export interface ClusterDiagnostics {
  cluster: string;
  /** Our workloads short of ready replicas, and our Certificates not Ready. */
  failing: K8sObject[];
  /** Pods not ready in the action's namespaces. */
  pods: K8sObject[];
  /** Every event in the action's namespaces. */
  events: K8sObject[];
  /** The last lines of istiod, the SPIRE server and agents, and cert-manager. */
  logs: PodLog[];
  /** `spire-server entry show` and `bundle list -format spiffe`, when the server answered. */
  spireEntries?: string;
  spireBundles?: string;
  /** What could not be read, and why. */
  errors: string[];
}
