// The built action as a process: plan without a kubeconfig, bad inputs, an
// unreachable cluster, secrets never printed, the post step's cleanup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { explain, filesUnder, runAction } from './helpers/run-action.ts';

const TOKEN = 'sekrit-token-0123456789abcdef';

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function kubeconfigFor(port: number): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'cluster-1',
    clusters: ['cluster-1', 'cluster-2'].map((name) => ({
      name,
      cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true },
    })),
    users: [{ name: 'admin', user: { token: TOKEN } }],
    contexts: ['cluster-1', 'cluster-2'].map((name) => ({
      name,
      context: { cluster: name, user: 'admin' },
    })),
  });
}

const allOutput = (run: {
  stdout: string;
  stderr: string;
  summary: string;
  outputs: Record<string, string>;
}): string => run.stdout + run.stderr + run.summary + JSON.stringify(run.outputs);

test('plan without a kubeconfig writes every manifest and its summary', async () => {
  const run = await runAction({ phase: 'plan' });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const dir = run.outputs['manifests-dir'] as string;
  assert.ok(dir.startsWith(run.runnerTemp), 'manifests go under the runner temp dir by default');
  const files = fs.readdirSync(dir).sort();
  assert.deepEqual(
    files,
    ['cert-manager', 'examples', 'istio', 'spire']
      .flatMap((p) => [`cluster-1-${p}.yaml`, `cluster-2-${p}.yaml`])
      .sort(),
  );
  const spire = YAML.parseAllDocuments(
    fs.readFileSync(path.join(dir, 'cluster-1-spire.yaml'), 'utf8'),
  ).map((d) => d.toJS());
  assert.ok(spire.some((o) => o.kind === 'StatefulSet' && o.metadata.name === 'spire-server'));
  const result = JSON.parse(run.outputs.result as string);
  assert.equal(result.ok, true);
  assert.deepEqual(
    result.phases.map((p: { phase: string }) => p.phase),
    ['plan'],
  );
  assert.match(run.summary, /### plan ✅/);
  assert.match(run.summary, /\| cluster-1 \| spire \|/);
  assert.match(run.summary, /foo\.com/);
  assert.match(run.summary, /bar\.com/);
  assert.match(run.summary, /Istio 1\.22\.1 · SPIRE 1\.5\.1 · cert-manager v1\.15\.1/);
});

test('the bundle carries its templates: plan runs from a copy of dist/ with no repository around it', async () => {
  const alone = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-dist-alone-'));
  try {
    fs.cpSync(path.join(import.meta.dirname, '..', 'dist'), alone, { recursive: true });
    const run = await runAction({ phase: 'plan' }, { script: path.join(alone, 'index.js') });
    assert.equal(run.code, 0, explain(run));
    assert.equal(fs.readdirSync(run.outputs['manifests-dir'] as string).length, 8);
  } finally {
    fs.rmSync(alone, { recursive: true, force: true });
  }
});

test('a bad input fails within a second with one clear error and no stack trace', async () => {
  const run = await runAction({ phase: 'deploy-everything', kubeconfig: kubeconfigFor(1) });
  assert.equal(run.code, 1);
  assert.ok(run.ms < 1000, `took ${run.ms} ms`);
  const errors = run.stdout.split('\n').filter((l) => l.startsWith('::error::'));
  assert.equal(errors.length, 1, run.stdout);
  assert.match(errors[0] as string, /Input 'phase': 'deploy-everything' is not a phase/);
  assert.doesNotMatch(allOutput(run), /\n\s+at .*\.js:\d+/);
  assert.match(
    run.stdout,
    new RegExp(`::add-mask::${TOKEN}`),
    'the token is masked before inputs are validated',
  );
  const unmasked = allOutput(run)
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
  assert.ok(!unmasked.includes(TOKEN), 'the token never appears outside mask commands');
});

test('a kubeconfig that is not one fails naming the input, and masks what was given', async () => {
  const garbage = 'this-is-not-a-kubeconfig-but-could-be-secret';
  const run = await runAction({ phase: 'verify', kubeconfig: garbage });
  assert.equal(run.code, 1);
  assert.match(run.stdout, /::add-mask::this-is-not-a-kubeconfig-but-could-be-secret/);
  assert.match(run.stdout, /::error::Input 'kubeconfig': is not a kubeconfig/);
});

test('an API server that is down fails naming the cluster, within the timeout, and every secret is masked', async () => {
  const port = await closedPort();
  const run = await runAction({
    phase: 'verify',
    kubeconfig: Buffer.from(kubeconfigFor(port)).toString('base64'),
    timeout: '5s',
  });
  assert.equal(run.code, 1);
  assert.ok(run.ms < 30_000, `took ${run.ms} ms`);
  assert.match(
    run.stdout,
    /::error::cluster 'cluster-[12]': cannot reach the API server at https:\/\/127\.0\.0\.1:\d+/,
  );
  const masks = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('::add-mask::'))
    .map((l) => l.slice('::add-mask::'.length));
  assert.ok(masks.includes(TOKEN), 'the token is masked');
  const unmasked =
    run.stdout
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n') +
    run.stderr +
    run.summary;
  assert.ok(!unmasked.includes(TOKEN), 'the token never appears outside mask commands');

  // The private kubeconfig is gone already; the post step removes what remains.
  const state = (JSON.parse(run.state['cleanup-paths'] ?? '[]') as { path: string }[]).map(
    (e) => e.path,
  );
  assert.ok(state.length >= 2, 'the run remembered its files for the post step');
  assert.ok(
    state.every((p) => typeof p === 'string' && path.isAbsolute(p)),
    `each remembered entry names an absolute path: ${run.state['cleanup-paths']}`,
  );
  assert.ok(
    !filesUnder(run.runnerTemp).some((f) => f.endsWith('/kubeconfig')),
    'no kubeconfig left behind',
  );
  const post = await runAction(
    {},
    {
      script: 'post/index.js',
      runnerTemp: run.runnerTemp,
      env: { 'STATE_cleanup-paths': run.state['cleanup-paths'] ?? '[]' },
    },
  );
  assert.equal(post.code, 0, post.stdout);
  for (const p of state) assert.ok(!fs.existsSync(p), `${p} removed by the post step`);
});

test('per-cluster kubeconfigs without contexts: each file’s current-context names its cluster, one per file given', async () => {
  const port = await closedPort();
  const file = (context: string, token: string): string =>
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': context,
      clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${port}` } }],
      users: [{ name: 'u', user: { token } }],
      contexts: [{ name: context, context: { cluster: 'c', user: 'u' } }],
    });
  const run = await runAction({
    phase: 'verify',
    'kubeconfig-1': file('kind-east', `${TOKEN}-1`),
    'kubeconfig-2': file('kind-west', `${TOKEN}-2`),
    'kubeconfig-3': file('kind-north', `${TOKEN}-3`),
    'trust-domains': 'east.example,west.example,north.example',
    timeout: '5s',
  });
  assert.equal(run.code, 1, explain(run));
  assert.doesNotMatch(run.stdout, /has no context/);
  assert.match(
    run.stdout,
    /::error::cluster 'kind-(east|west|north)': cannot reach the API server at https:\/\/127\.0\.0\.1:\d+/,
  );
  for (const n of [1, 2, 3])
    assert.ok(
      !allOutput(run)
        .replaceAll(/::add-mask::.*\n/g, '')
        .includes(`${TOKEN}-${n}`),
    );
});

test('the post step removes only what the run created, never a manifests-dir that was there before', async () => {
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-workspace-'));
  try {
    fs.writeFileSync(path.join(workspace, 'README.md'), 'the user’s file\n');
    fs.mkdirSync(path.join(workspace, 'src'));
    const run = await runAction({ phase: 'plan', 'manifests-dir': workspace });
    assert.equal(run.code, 0, explain(run));
    const written = fs.readdirSync(workspace).filter((f) => f.endsWith('.yaml'));
    assert.ok(written.length > 0, 'the plan wrote its manifests into the workspace');
    const post = await runAction(
      {},
      {
        script: 'post/index.js',
        runnerTemp: run.runnerTemp,
        env: { 'STATE_cleanup-paths': run.state['cleanup-paths'] ?? '[]' },
      },
    );
    assert.equal(post.code, 0, post.stdout);
    assert.deepEqual(fs.readdirSync(workspace).sort(), ['README.md', 'src']);
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
});
