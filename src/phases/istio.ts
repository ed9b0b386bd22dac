// Seed: istio/install-istio.sh. Renders each cluster's IstioOperators with
// `istioctl manifest generate` and applies the result with our field manager
// (labelled, so cleanup finds it; idempotent, so a re-run changes nothing) in
// the order `istioctl install` keeps: base and istiod, then the gateways once
// the sidecar injector answers. With NodePort gateways, every east-west
// gateway's Service comes first, so each control plane's meshNetworks can name
// them. Then remote secrets go between every pair of clusters.
import * as core from '@actions/core';
import { labelObject, renderPhase, toYaml, type RenderFacts } from '../render/index.ts';
import {
  INJECTED_IMAGE,
  injectionProbePod,
  isUninjectedPod,
  podSelector,
  splitByInjection,
} from '../render/istio-gateways.ts';
import { EASTWEST_OPERATOR, renderIstioOperators } from '../render/istio.ts';
import type { ClusterConfig, Config } from '../config/config.ts';
import { InputError } from '../config/input-error.ts';
import {
  discoverBundleEndpoint,
  discoverServiceAddress,
  type ExternalAddress,
} from '../cluster/service-address.ts';
import { ClusterError, describeError, httpStatus, isTransient } from '../cluster/errors.ts';
import { formatHostPort } from '../net-address.ts';
import { parseObjects } from '../yaml-docs.ts';
import { applyInOrder } from '../cluster/apply.ts';
import { waitForRollouts } from '../cluster/rollout.ts';
import type { ClusterApi } from '../cluster/api.ts';
import type { ApplyRecord } from '../model/results.ts';
import { objectRef, type K8sObject } from '../model/k8s-object.ts';
import { decodeKubeconfig } from '../config/kubeconfig.ts';
import type { Istioctl } from '../cluster/istioctl.ts';
import {
  EASTWEST_GATEWAY,
  ISTIO_NAMESPACE,
  ISTIO_READER,
  SPIRE_NAMESPACE,
  SPIRE_SERVER,
} from '../model/names.ts';
import { anyFailed, onEachCluster } from './per-cluster.ts';
import { mergeOutcomes } from './merge.ts';
import type { ClusterLog, RunContext } from './types.ts';
import type { ClusterOutcome } from '../model/results.ts';

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

/**
 * With an `istio-overlay`, the merged control plane must pass istioctl's own
 * schema check before any cluster is touched: a misspelt field fails the run
 * here, naming the input, rather than after cert-manager and SPIRE are applied.
 * A pass is kept like any generated manifest (same binary, same operator: same
 * answer), so a re-run does not start istioctl for it; a refusal is never kept.
 */
export async function checkIstioOverlay(config: Config, istioctl: Istioctl): Promise<void> {
  if (!config.istioOverlay) return;
  const cluster = config.clusters[0] as ClusterConfig;
  const controlPlane = renderIstioOperators(config, cluster).filter(
    (o) => o.metadata.name !== EASTWEST_OPERATOR,
  );
  try {
    await istioctl.generateObjects('istio-overlay-check.yaml', toYaml(controlPlane));
  } catch (error) {
    throw new InputError(
      'istio-overlay',
      `merged into the action's control plane, it is refused: ${describeError(error)}. Fix or remove the field named there.`,
    );
  }
}

/** istioctl's rendering of the cluster's IstioOperators, ready to apply. */
export async function generateIstioObjects(
  ctx: RunContext,
  client: ClusterApi,
  operators: K8sObject[],
): Promise<K8sObject[]> {
  const byRef = new Map<string, K8sObject>();
  for (const operator of operators) {
    const generated = await ctx.istioctl.generateObjects(
      `${client.cluster.context}-${operator.metadata.name}.yaml`,
      toYaml([operator]),
    );
    for (const o of generated)
      byRef.set(objectRef(o), labelObject(withoutIstiodManagedFields(o), 'istio'));
  }
  return [...byRef.values()];
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]';
}

/** The remote secret lets the other clusters' istiod read this cluster's endpoints. */
async function remoteSecret(ctx: RunContext, source: ClusterApi): Promise<K8sObject> {
  const server = source.cluster.apiServer || source.server;
  if (!source.cluster.apiServer && isLoopback(server))
    core.warning(
      `The remote secret for cluster '${source.cluster.context}' points at ${server}, a loopback address other clusters can only use when they share this host. Set 'api-servers' to addresses the clusters can reach.`,
    );
  const text = await source.istioctl([
    'create-remote-secret',
    `--name=${source.cluster.name}`,
    `--server=${server}`,
    `--service-account=${ISTIO_READER.serviceAccount}`,
    `--secret-name=${ISTIO_READER.tokenSecret}`,
  ]);
  const secret = parseObjects(text, 'istioctl create-remote-secret').find(
    (o) => o.kind === 'Secret',
  );
  if (!secret)
    throw new Error(
      `istioctl create-remote-secret printed no Secret for cluster '${source.cluster.context}'`,
    );
  // The same rule as for the kubeconfig inputs: every credential inside is masked.
  for (const value of Object.values((secret.stringData ?? {}) as Record<string, string>)) {
    ctx.mask(value);
    try {
      for (const s of decodeKubeconfig('remote secret', value).credentials) ctx.mask(s);
    } catch {
      // Not a kubeconfig: the value itself is masked above.
    }
  }
  return labelObject(secret, 'istio');
}

/**
 * NodePort only: every cluster's east-west gateway address, for meshNetworks.
 * Its Service comes from the east-west operator alone, which needs no
 * meshNetworks, so it is applied (by itself) before the control plane is
 * rendered.
 */
async function eastWestGateways(ctx: RunContext): Promise<{
  outcomes: ClusterOutcome[];
  gateways: Record<string, ExternalAddress>;
  /** istioctl's east-west objects per cluster context, so install need not generate them again. */
  generated: Map<string, K8sObject[]>;
}> {
  const gateways: Record<string, ExternalAddress> = {};
  const generated = new Map<string, K8sObject[]>();
  const outcomes = await onEachCluster(
    'istio · east-west gateway address',
    ctx.clients,
    async (client, log) => {
      const operators = renderPhase(ctx.config, 'istio', client.cluster).istioOperators.filter(
        (o) => o.metadata.name === EASTWEST_OPERATOR,
      );
      const objects = await generateIstioObjects(ctx, client, operators);
      generated.set(client.cluster.context, objects);
      const service = objects.find(
        (o) => o.kind === 'Service' && o.metadata.name === EASTWEST_GATEWAY.service,
      );
      if (!service) throw new Error(`istioctl rendered no ${EASTWEST_GATEWAY.service} Service`);
      const records = [await client.applyOne(service)];
      const address = await discoverServiceAddress(
        client,
        { name: EASTWEST_GATEWAY.service, namespace: ISTIO_NAMESPACE },
        EASTWEST_GATEWAY.tlsPort,
        ctx.config.serviceType,
      );
      gateways[client.cluster.name] = address;
      const note = `east-west gateway at ${formatHostPort(address)}`;
      log(note);
      return { records, notes: [note] };
    },
  );
  return { outcomes, gateways, generated };
}

/**
 * Every SPIRE server's bundle endpoint as the spire phase exposed it, for the
 * mesh's trust anchors (meshConfig.caCertificates). Read only: a cluster
 * without it has not had the spire phase.
 */
async function spireBundleEndpoints(
  ctx: RunContext,
): Promise<{ outcomes: ClusterOutcome[]; endpoints: Record<string, string> }> {
  const endpoints: Record<string, string> = {};
  const outcomes = await onEachCluster(
    'istio · SPIRE bundle endpoints',
    ctx.clients,
    async (client, log) => {
      const service = { name: SPIRE_SERVER.bundleService, namespace: SPIRE_NAMESPACE };
      if (!(await client.read({ apiVersion: 'v1', kind: 'Service', metadata: service })))
        throw new ClusterError(
          client.cluster.context,
          `Service ${service.namespace}/${service.name} (the SPIRE bundle endpoint Istio's trust anchors name) does not exist: run phase 'spire' (or 'all') before 'istio'.`,
        );
      const url = await discoverBundleEndpoint(client, ctx.config.serviceType);
      endpoints[client.cluster.trustDomain] = url;
      log(`trust anchor of ${client.cluster.trustDomain}: ${url}`);
      return { records: [], notes: [] };
    },
  );
  return { outcomes, endpoints };
}

/** Waits until the injector hands back a gateway's pod with its image filled in. */
async function waitForInjector(client: ClusterApi, gateways: K8sObject[]): Promise<number> {
  const started = Date.now();
  await Promise.all(
    gateways.map((gateway) =>
      client.until(`the sidecar injector fills in the image of ${objectRef(gateway)}`, async () => {
        try {
          const pod = await client.dryRunCreate(injectionProbePod(gateway));
          return isUninjectedPod(pod)
            ? { pending: `admission returned the pod with image: ${INJECTED_IMAGE}` }
            : { value: true };
        } catch (error) {
          // A webhook that is registered but not serving yet fails the call;
          // a policy that refuses uninjected pods does too.
          const status = httpStatus(error);
          if (isTransient(error) || status === 400 || status === 403 || status === 422)
            return { pending: describeError(error) };
          throw error;
        }
      }),
    ),
  );
  return Date.now() - started;
}

/**
 * Pods that a gateway created before the injector answered (an earlier run, or
 * another tool) keep `image: auto` forever; deleting them lets their
 * ReplicaSet create injected ones. A re-run thus repairs that state.
 */
async function replaceUninjectedPods(client: ClusterApi, gateways: K8sObject[]): Promise<string[]> {
  const replaced: string[] = [];
  for (const gateway of gateways) {
    const pods = await client.list('v1', 'Pod', {
      namespace: gateway.metadata.namespace ?? ISTIO_NAMESPACE,
      labelSelector: podSelector(gateway),
    });
    for (const pod of pods.filter(isUninjectedPod)) {
      await client.delete({ apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata });
      replaced.push(`${pod.metadata.namespace}/${pod.metadata.name}`);
    }
  }
  return replaced;
}

/**
 * As `istioctl install` does: base and istiod first, then, once the injector
 * fills in gateway pods, the gateways.
 */
export async function installControlPlaneThenGateways(
  client: ClusterApi,
  generated: K8sObject[],
  meshObjects: K8sObject[],
  log: ClusterLog,
  records: ApplyRecord[],
): Promise<{ notes: string[] }> {
  const { controlPlane, gateways } = splitByInjection(generated);
  records.push(...(await applyInOrder(client, [...controlPlane, ...meshObjects])));
  await waitForRollouts(client, controlPlane);
  if (gateways.length === 0) return { notes: [] };
  const injectorMs = await waitForInjector(client, gateways);
  log(`istiod is ready; the sidecar injector answers (after ${injectorMs} ms)`);
  records.push(...(await applyInOrder(client, gateways)));
  const replaced = await replaceUninjectedPods(client, gateways);
  if (replaced.length > 0)
    log(`replaced gateway pods created before the injector: ${replaced.join(', ')}`);
  await waitForRollouts(client, gateways);
  return {
    notes: replaced.length > 0 ? [`replaced ${replaced.length} uninjected gateway pods`] : [],
  };
}

export async function runIstio(ctx: RunContext): Promise<ClusterOutcome[]> {
  const { config } = ctx;
  const steps: ClusterOutcome[][] = [];
  const facts: RenderFacts = {};
  let early: Awaited<ReturnType<typeof eastWestGateways>> | undefined;
  if (config.serviceType === 'NodePort') {
    early = await eastWestGateways(ctx);
    steps.push(early.outcomes);
    if (anyFailed(early.outcomes)) return mergeOutcomes(steps);
    facts.eastWestGateways = early.gateways;
  }

  const anchors = await spireBundleEndpoints(ctx);
  steps.push(anchors.outcomes);
  if (anyFailed(anchors.outcomes)) return mergeOutcomes(steps);
  facts.bundleEndpoints = anchors.endpoints;

  const install = await onEachCluster(
    'istio · install',
    ctx.clients,
    async (client, log, applied) => {
      const rendered = renderPhase(config, 'istio', client.cluster, facts);
      const eastWest = early?.generated.get(client.cluster.context);
      const generated = [
        ...(await generateIstioObjects(
          ctx,
          client,
          rendered.istioOperators.filter((o) => !eastWest || o.metadata.name !== EASTWEST_OPERATOR),
        )),
        ...(eastWest ?? []),
      ];
      ctx.writeManifest(
        client.cluster.context,
        'istio',
        toYaml([...rendered.istioOperators, ...rendered.objects, ...generated]),
      );
      const installed = await installControlPlaneThenGateways(
        client,
        generated,
        rendered.objects,
        log,
        applied,
      );
      log(
        `Istio ${config.versions.istio} is ready (${generated.length} objects from istioctl manifest generate)`,
      );
      return installed;
    },
  );
  steps.push(install);
  if (anyFailed(install)) return mergeOutcomes(steps);
  const secrets = new Map<string, K8sObject>();
  const created = await onEachCluster(
    'istio · create remote secret',
    ctx.clients,
    async (client, log) => {
      secrets.set(client.cluster.context, await remoteSecret(ctx, client));
      log('created the remote secret (token masked)');
    },
  );
  steps.push(created);
  if (anyFailed(created)) return mergeOutcomes(steps);

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
  steps.push(applied);
  return mergeOutcomes(steps);
}
