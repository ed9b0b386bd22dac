// Seed: istio/install-istio.sh. Renders each cluster's IstioOperators with
// `istioctl manifest generate` and applies the result with our field manager
// (labelled, so cleanup finds it; idempotent, so a re-run changes nothing),
// then creates remote secrets in both directions.
import YAML from 'yaml';
import * as core from '@actions/core';
import { labelObject, renderPhase, toYaml } from '../render/index.ts';
import { parseObjects } from '../yaml-docs.ts';
import { applyInOrder } from '../cluster/apply.ts';
import { waitForRollouts } from '../cluster/rollout.ts';
import type { ClusterClient } from '../cluster/client.ts';
import { objectRef, type K8sObject } from '../k8s-object.ts';
import { writePrivateFile } from '../kubeconfig.ts';
import { runIstioctl } from '../tools/run-istioctl.ts';
import { anyFailed, onEachCluster } from './per-cluster.ts';
import { mergeOutcomes } from './merge.ts';
import type { ClusterOutcome, RunContext } from './types.ts';

/**
 * istiod manages two webhook fields at run time: it fills in `caBundle` (the
 * charts ship it empty) and flips its validator's `failurePolicy` from Ignore
 * to Fail once it serves. Applying the chart's values would make us own those
 * fields and fight istiod on every run, so they are left to istiod.
 */
export function withoutIstiodManagedFields(o: K8sObject): K8sObject {
  const webhooks = (
    o as { webhooks?: { failurePolicy?: string; clientConfig?: { caBundle?: string } }[] }
  ).webhooks;
  if (!Array.isArray(webhooks)) return o;
  const validating = o.kind === 'ValidatingWebhookConfiguration';
  return {
    ...o,
    webhooks: webhooks.map((webhook) => {
      const { failurePolicy, clientConfig, ...rest } = webhook;
      const { caBundle, ...config } = clientConfig ?? {};
      return {
        ...rest,
        ...(validating || failurePolicy === undefined ? {} : { failurePolicy }),
        clientConfig: caBundle ? { ...config, caBundle } : config,
      };
    }),
  } as K8sObject;
}

/** istioctl's rendering of the cluster's IstioOperators, ready to apply. */
export async function generateIstioObjects(
  ctx: RunContext,
  client: ClusterClient,
  operators: K8sObject[],
): Promise<K8sObject[]> {
  const istioctl = await ctx.istioctl();
  const byRef = new Map<string, K8sObject>();
  for (const operator of operators) {
    const file = writePrivateFile(
      ctx.runDir,
      `${client.cluster.context}-${operator.metadata.name}.yaml`,
      toYaml([operator]),
    );
    const text = await runIstioctl(istioctl, ctx.kubeconfigFile, [
      'manifest',
      'generate',
      '-f',
      file,
    ]);
    for (const o of parseObjects(text, `istioctl manifest generate (${operator.metadata.name})`))
      byRef.set(objectRef(o), labelObject(withoutIstiodManagedFields(o), 'istio'));
  }
  return [...byRef.values()];
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]';
}

/** The remote secret lets the other clusters' istiod read this cluster's endpoints. */
async function remoteSecret(ctx: RunContext, source: ClusterClient): Promise<K8sObject> {
  const server = source.cluster.apiServer || source.server;
  if (!source.cluster.apiServer && isLoopback(server))
    core.warning(
      `The remote secret for cluster '${source.cluster.context}' points at ${server}, a loopback address other clusters can only use when they share this host. Set 'api-servers' to addresses the clusters can reach.`,
    );
  const istioctl = await ctx.istioctl();
  const text = await runIstioctl(istioctl, ctx.kubeconfigFile, [
    'create-remote-secret',
    `--context=${source.cluster.context}`,
    `--name=${source.cluster.name}`,
    `--server=${server}`,
  ]);
  const secret = parseObjects(text, 'istioctl create-remote-secret').find(
    (o) => o.kind === 'Secret',
  );
  if (!secret)
    throw new Error(
      `istioctl create-remote-secret printed no Secret for cluster '${source.cluster.context}'`,
    );
  for (const value of Object.values((secret.stringData ?? {}) as Record<string, string>)) {
    ctx.mask(value);
    const users =
      (YAML.parse(value) as { users?: { user?: { token?: string } }[] } | null)?.users ?? [];
    for (const u of users) if (u.user?.token) ctx.mask(u.user.token);
  }
  return labelObject(secret, 'istio');
}

export async function runIstio(ctx: RunContext): Promise<ClusterOutcome[]> {
  const { config } = ctx;
  const install = await onEachCluster('istio · install', ctx.clients, async (client, log) => {
    const rendered = renderPhase(config, 'istio', client.cluster, ctx.facts);
    const generated = await generateIstioObjects(ctx, client, rendered.istioOperators);
    ctx.writeManifest(
      client.cluster.context,
      'istio',
      toYaml([...rendered.istioOperators, ...rendered.objects, ...generated]),
    );
    const records = await applyInOrder(client, [...generated, ...rendered.objects]);
    await waitForRollouts(client, generated);
    log(
      `Istio ${config.versions.istio} is ready (${generated.length} objects from istioctl manifest generate)`,
    );
    return { records };
  });
  if (anyFailed(install)) return install;

  const secrets = new Map<string, K8sObject>();
  const created = await onEachCluster(
    'istio · create remote secret',
    ctx.clients,
    async (client, log) => {
      secrets.set(client.cluster.context, await remoteSecret(ctx, client));
      log('created the remote secret (token masked)');
    },
  );
  if (anyFailed(created)) return mergeOutcomes([install, created]);

  const applied = await onEachCluster(
    'istio · apply remote secrets',
    ctx.clients,
    async (client, log) => {
      const others = ctx.clients
        .filter((c) => c !== client)
        .map((c) => secrets.get(c.cluster.context) as K8sObject);
      const records = await applyInOrder(client, others);
      log(
        `remote secrets for ${ctx.clients
          .filter((c) => c !== client)
          .map((c) => c.cluster.context)
          .join(', ')}`,
      );
      return { records };
    },
  );
  return mergeOutcomes([install, created, applied]);
}
