// What a team would run without the action: the seed's install scripts, one
// cluster after the other, with kubectl and istioctl, on the manifests the
// action rendered (the files of its `manifests-dir`), so both ways install the
// same objects. Steps as the seed's scripts take them:
//   cert-manager: apply the release, wait for its deployments, apply the CA;
//   SPIRE: apply, wait for the server and agents, the seed's `sleep 6`, then
//     `bundle show` on each server and `bundle set` of it on every other;
//   Istio: `istioctl install -f` of the control plane, then of the east-west
//     gateway, then the extra objects; `create-remote-secret | kubectl apply`
//     between every pair;
//   examples: apply and wait for every deployment.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { parseObjects } from '../../src/yaml-docs.ts';
import { objectRef, type K8sObject } from '../../src/model/k8s-object.ts';
import { EASTWEST_OPERATOR } from '../../src/render/istio.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../../src/model/names.ts';

const run = promisify(execFile);

export interface SeedWayTools {
  kubectl: string;
  istioctl: string;
  kubeconfigFile: string;
  /** The action's manifests-dir after an `all`: `<context>-<phase>.yaml`. */
  manifestsDir: string;
  /** Where the split files go. */
  workDir: string;
  contexts: string[];
  /** `spiffe://` trust domain of each context, in the same order. */
  trustDomains: string[];
}

const toYaml = (objects: K8sObject[]): string =>
  objects.map((o) => YAML.stringify(o)).join('---\n');

/**
 * The objects of the action's Istio file that `istioctl install` of its
 * operators does not create (the seed applies those with kubectl): found by
 * rendering the operators once, before anything is timed.
 */
export async function istioExtras(t: SeedWayTools): Promise<Map<string, K8sObject[]>> {
  const extras = new Map<string, K8sObject[]>();
  for (const context of t.contexts) {
    const all = parseObjects(
      fs.readFileSync(path.join(t.manifestsDir, `${context}-istio.yaml`), 'utf8'),
      context,
    );
    const operators = all.filter((o) => o.kind === 'IstioOperator');
    const byIstioctl = new Set<string>();
    for (const operator of operators) {
      const f = path.join(t.workDir, `${context}-${operator.metadata.name}-generate.yaml`);
      fs.mkdirSync(t.workDir, { recursive: true });
      fs.writeFileSync(f, YAML.stringify(operator));
      const { stdout } = await run(t.istioctl, ['manifest', 'generate', '-f', f], {
        maxBuffer: 64 * 1024 * 1024,
      });
      for (const o of parseObjects(stdout, f)) byIstioctl.add(objectRef(o));
    }
    extras.set(
      context,
      all.filter((o) => o.kind !== 'IstioOperator' && !byIstioctl.has(objectRef(o))),
    );
  }
  return extras;
}

export async function seedWay(t: SeedWayTools, extras: Map<string, K8sObject[]>): Promise<void> {
  // A fresh discovery cache per run, as on a new CI runner.
  const cacheDir = path.join(t.workDir, 'kube-cache');
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const kubectl = (context: string, args: string[], input?: string): Promise<string> =>
    withInput(
      t.kubectl,
      ['--kubeconfig', t.kubeconfigFile, '--cache-dir', cacheDir, '--context', context, ...args],
      input,
    );
  const istioctl = (context: string, args: string[]): Promise<string> =>
    withInput(t.istioctl, ['--kubeconfig', t.kubeconfigFile, '--context', context, ...args]);
  const objects = (context: string, phase: string): K8sObject[] =>
    parseObjects(
      fs.readFileSync(path.join(t.manifestsDir, `${context}-${phase}.yaml`), 'utf8'),
      `${context}-${phase}.yaml`,
    );
  const file = (name: string, list: K8sObject[]): string => {
    const f = path.join(t.workDir, name);
    fs.writeFileSync(f, toYaml(list));
    return f;
  };
  // Server-side: client-side apply cannot store the largest CRDs' last-applied annotation.
  const apply = (context: string, f: string): Promise<string> =>
    kubectl(context, ['apply', '--server-side', '--force-conflicts', '-f', f]);
  const rollouts = async (context: string, namespace: string): Promise<void> => {
    for (const kind of ['deployment', 'statefulset', 'daemonset']) {
      const names = (await kubectl(context, ['get', kind, '-n', namespace, '-o', 'name'])).split(
        '\n',
      );
      for (const name of names.filter(Boolean))
        await kubectl(context, ['rollout', 'status', '-n', namespace, name, '--timeout=5m']);
    }
  };

  fs.mkdirSync(t.workDir, { recursive: true });

  for (const context of t.contexts) {
    const all = objects(context, 'cert-manager');
    const ca = all.filter((o) => o.apiVersion.startsWith('cert-manager.io/'));
    await apply(
      context,
      file(
        `${context}-cert-manager-release.yaml`,
        all.filter((o) => !ca.includes(o)),
      ),
    );
    await kubectl(context, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=5m']);
    await rollouts(context, 'cert-manager');
    await apply(context, file(`${context}-cert-manager-ca.yaml`, ca));
    await kubectl(context, [
      'wait',
      '--for=condition=Ready',
      'certificate',
      '--all',
      '-A',
      '--timeout=5m',
    ]);
  }

  for (const context of t.contexts) {
    await apply(context, file(`${context}-spire.yaml`, objects(context, 'spire')));
    await rollouts(context, SPIRE_NAMESPACE);
  }
  await new Promise((resolve) => setTimeout(resolve, 6000));
  const server = (context: string, args: string[], input?: string): Promise<string> =>
    kubectl(
      context,
      [
        'exec',
        ...(input ? ['-i'] : []),
        '-n',
        SPIRE_NAMESPACE,
        SPIRE_SERVER.pod,
        '-c',
        SPIRE_SERVER.container,
        '--',
        SPIRE_SERVER.binary,
        ...args,
        '-socketPath',
        SPIRE_SERVER.socket,
      ],
      input,
    );
  const bundles = [];
  for (const context of t.contexts)
    bundles.push(await server(context, ['bundle', 'show', '-format', 'spiffe']));
  for (const [i, context] of t.contexts.entries())
    for (const [j, bundle] of bundles.entries())
      if (i !== j)
        await server(
          context,
          ['bundle', 'set', '-format', 'spiffe', '-id', `spiffe://${t.trustDomains[j]}`],
          bundle,
        );

  for (const context of t.contexts) {
    const all = objects(context, 'istio');
    const operators = all.filter((o) => o.kind === 'IstioOperator');
    const controlPlane = operators.filter((o) => o.metadata.name !== EASTWEST_OPERATOR);
    const eastWest = operators.filter((o) => o.metadata.name === EASTWEST_OPERATOR);
    const extra = extras.get(context) ?? [];
    await istioctl(context, [
      'install',
      '-y',
      '-f',
      file(`${context}-istio-control-plane.yaml`, controlPlane),
    ]);
    if (eastWest.length > 0)
      await istioctl(context, [
        'install',
        '-y',
        '-f',
        file(`${context}-istio-eastwest.yaml`, eastWest),
      ]);
    if (extra.length > 0) await apply(context, file(`${context}-istio-extra.yaml`, extra));
  }
  for (const [i, source] of t.contexts.entries()) {
    const secret = await istioctl(source, ['create-remote-secret', `--name=cluster-${i + 1}`]);
    for (const target of t.contexts.filter((c) => c !== source))
      await kubectl(target, ['apply', '-f', '-'], secret);
  }

  for (const context of t.contexts) {
    const all = objects(context, 'examples');
    await apply(context, file(`${context}-examples.yaml`, all));
    for (const namespace of new Set(
      all.flatMap((o) => (o.metadata.namespace ? [o.metadata.namespace] : [])),
    ))
      await rollouts(context, namespace);
  }
}

/** Runs a tool with optional stdin; a failure names the command and says what it printed. */
function withInput(binary: string, args: string[], input?: string): Promise<string> {
  if (input === undefined)
    return run(binary, args, { maxBuffer: 64 * 1024 * 1024 }).then(
      (r) => r.stdout,
      fail(binary, args),
    );
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(
            new Error(
              `${path.basename(binary)} ${args
                .filter((a) => !a.startsWith('/'))
                .slice(3, 6)
                .join(' ')}: exit ${code}: ${err.trim().slice(-500)}`,
            ),
          ),
    );
    child.stdin.end(input);
  });
}

const fail =
  (binary: string, args: string[]) =>
  (error: { stderr?: string; message: string }): never => {
    throw new Error(
      `${path.basename(binary)} ${args
        .filter((a) => !a.startsWith('/'))
        .slice(3, 6)
        .join(' ')}: ${(error.stderr ?? error.message).trim().slice(-500)}`,
    );
  };
