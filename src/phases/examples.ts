// Seed: examples/deploy-helloworld.sh and deploy-bookinfo.sh. helloworld v1 on
// the first cluster and v2 on the second behind one Service name, sleep as the
// client, bookinfo on the second cluster.
import { renderPhase, toYaml } from '../render/index.ts';
import { applyInOrder } from '../cluster/apply.ts';
import { waitForRollouts } from '../cluster/rollout.ts';
import { onEachCluster } from './per-cluster.ts';
import type { RunContext } from './types.ts';
import type { ClusterOutcome } from '../model/results.ts';

export async function runExamples(ctx: RunContext): Promise<ClusterOutcome[]> {
  return onEachCluster('examples', ctx.clients, async (client, log, applied) => {
    const rendered = renderPhase(ctx.config, 'examples', client.cluster);
    ctx.writeManifest(client.cluster.context, 'examples', toYaml(rendered.objects));
    applied.push(...(await applyInOrder(client, rendered.objects)));
    await waitForRollouts(client, rendered.objects);
    const deployments = rendered.objects
      .filter((o) => o.kind === 'Deployment')
      .map((o) => o.metadata.name);
    log(`ready: ${deployments.join(', ')}`);
  });
}
