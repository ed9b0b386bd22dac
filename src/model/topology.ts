// Which cluster runs which sample and where verify looks from, for any number
// of clusters. The seed's layout is the two-cluster case: helloworld v1 on the
// first cluster and v2 on the second, Bookinfo on the second, requests from the
// first cluster's sleep, the north-south ingress on the last cluster. Render,
// verify and the traffic analyzers read these answers; nothing else picks a
// cluster by its position.
import type { ClusterConfig, Config } from '../config/config.ts';
import { EXAMPLES } from './names.ts';

export interface ChainTarget {
  cluster: ClusterConfig;
  namespace: string;
  /** Label selector of the pod whose proxy certificate chain is inspected. */
  selector: string;
}

export interface Topology {
  /** The helloworld version each cluster serves: v<K> on cluster K. */
  helloworld: readonly { cluster: ClusterConfig; version: string }[];
  /** Where Bookinfo runs: the seed's second cluster. */
  bookinfo: ClusterConfig;
  /** The cluster whose sleep pod sends every traffic check's requests. */
  trafficClient: ClusterConfig;
  /** The cluster whose ingress gateway north-south traffic enters. */
  ingress: ClusterConfig;
  /** Workloads whose proxy certificate chains `verify` checks, as the seed inspects them. */
  chainTargets: readonly ChainTarget[];
}

function helloworldVersionAt(index: number): string {
  return `v${index + 1}`;
}

export function topology(config: Config): Topology {
  const clusters = config.clusters;
  const first = clusters[0] as ClusterConfig;
  const bookinfo = (clusters[1] ?? first) as ClusterConfig;
  return {
    helloworld: clusters.map((cluster) => ({
      cluster,
      version: helloworldVersionAt(cluster.index),
    })),
    bookinfo,
    trafficClient: first,
    ingress: clusters.at(-1) as ClusterConfig,
    chainTargets: [
      {
        cluster: first,
        namespace: EXAMPLES.sleep.namespace,
        selector: `app=${EXAMPLES.sleep.app}`,
      },
      { cluster: bookinfo, namespace: EXAMPLES.bookinfo.namespace, selector: 'app=productpage' },
    ],
  };
}

export function helloworldVersion(cluster: ClusterConfig): string {
  return helloworldVersionAt(cluster.index);
}

export function runsBookinfo(config: Config, cluster: ClusterConfig): boolean {
  return topology(config).bookinfo.index === cluster.index;
}
