// What phases share: the clusters to work on, lazy tools, and where to write
// the manifests they render. What they hand back is in model/results.ts.
import type { Config } from '../config/config.ts';
import type { ClusterApi } from '../cluster/api.ts';
import type { Istioctl } from '../cluster/istioctl.ts';

export interface RunContext {
  config: Config;
  clients: ClusterApi[];
  /** istioctl for what needs no cluster (`manifest generate`); per cluster, ClusterApi.istioctl. */
  istioctl: Istioctl;
  /** Registers strings that must never be printed. */
  mask: (secret: string) => void;
  /** Writes a rendered file into manifests-dir, returns its path. */
  writeManifest: (cluster: string, phase: string, yaml: string) => string;
}

export type ClusterLog = (line: string) => void;
