import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {
  decodeKubeconfig,
  makeRunDir,
  decodeKubeconfigInputs,
  resolveKubeconfigs,
  writePrivateFile,
} from '../src/config/kubeconfig.ts';
import { parseInputs } from '../src/config/inputs.ts';
import { InputError } from '../src/config/input-error.ts';

const KEY_PEM =
  '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5VdLfGmzW8g2PoAoGCCqGSM49\nAwEHoUQDQgAE8aQkZbCjJ0gPRgaU0h8TBPBgJIrv1j2lhVZ8jQnVEDl5V1wWqZpN\n-----END EC PRIVATE KEY-----\n';

function kubeconfig(
  contexts: { name: string; server: string; token?: string; keyData?: string; password?: string }[],
  current?: string,
): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': current ?? contexts[0]?.name,
    clusters: contexts.map((c) => ({
      name: `${c.name}-cluster`,
      cluster: { server: c.server, 'certificate-authority-data': 'Q0EK' },
    })),
    users: contexts.map((c) => ({
      name: `${c.name}-user`,
      user: {
        ...(c.token ? { token: c.token } : {}),
        ...(c.keyData
          ? {
              'client-key-data': c.keyData,
              'client-certificate-data': Buffer.from('CERTIFICATE-BYTES-1234').toString('base64'),
            }
          : {}),
        ...(c.password ? { username: 'admin', password: c.password } : {}),
      },
    })),
    contexts: contexts.map((c) => ({
      name: c.name,
      context: { cluster: `${c.name}-cluster`, user: `${c.name}-user` },
    })),
  });
}

const merged = kubeconfig([
  { name: 'cluster-1', server: 'https://10.0.0.1:6443', token: 'tok-aaaaaaaaaaaaaaaa' },
  {
    name: 'cluster-2',
    server: 'https://10.0.0.2:6443',
    keyData: Buffer.from(KEY_PEM).toString('base64'),
    password: 'hunter2-hunter2',
  },
]);
const clusters = parseInputs((name) => (name === 'phase' ? 'plan' : '')).clusters;
const get = (values: Record<string, string>) => (name: string) => values[name] ?? '';

test('plain YAML and base64 decode to the same kubeconfig', () => {
  const plain = decodeKubeconfig('kubeconfig', merged);
  const encoded = Buffer.from(merged).toString('base64');
  const b64 = decodeKubeconfig('kubeconfig', encoded.replace(/(.{76})/g, '$1\n'));
  assert.deepEqual(b64.doc, plain.doc);
  assert.ok(b64.secrets.includes(merged), 'the decoded text is masked');
});

test('every credential inside is collected for masking', () => {
  const { secrets } = decodeKubeconfig('kubeconfig', Buffer.from(merged).toString('base64'));
  for (const value of [
    'tok-aaaaaaaaaaaaaaaa',
    'hunter2-hunter2',
    Buffer.from(KEY_PEM).toString('base64'),
    KEY_PEM,
    Buffer.from('CERTIFICATE-BYTES-1234').toString('base64'),
  ])
    assert.ok(secrets.includes(value), `masks ${value.slice(0, 20)}`);
  // Each line of the decoded key too: the runner masks whole values, and logs split lines.
  assert.ok(secrets.includes('MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5VdLfGmzW8g2PoAoGCCqGSM49'));
  assert.ok(!secrets.includes(''), 'never an empty mask');
});

test('not a kubeconfig: names the input and how to give it', () => {
  for (const bad of ['hello: world', 'not base64 !!', Buffer.from('just text').toString('base64')])
    assert.throws(
      () => decodeKubeconfig('kubeconfig-2', bad),
      (e: unknown) =>
        e instanceof InputError &&
        e.input === 'kubeconfig-2' &&
        /plain YAML or as base64/.test(e.message),
    );
});

/** The kubeconfig inputs as parseInputs decodes them, once. */
const inputs = (values: Record<string, string>) => decodeKubeconfigInputs(get(values), () => {});

test('merged: picks the named contexts into one minimal kubeconfig', () => {
  const resolved = resolveKubeconfigs(inputs({ kubeconfig: merged }), clusters, false);
  const doc = YAML.parse(resolved.yaml);
  assert.deepEqual(
    doc.contexts.map((c: { name: string }) => c.name),
    ['cluster-1', 'cluster-2'],
  );
  assert.deepEqual(resolved.servers, ['https://10.0.0.1:6443', 'https://10.0.0.2:6443']);
  assert.equal(doc.users[0].user.token, 'tok-aaaaaaaaaaaaaaaa');
});

test('merged: a missing context lists the ones there are', () => {
  assert.throws(
    () =>
      resolveKubeconfigs(
        inputs({ kubeconfig: merged }),
        parseInputs(get({ phase: 'plan', contexts: 'cluster-1,prod' })).clusters,
        true,
      ),
    /Input 'kubeconfig': has no context 'prod' \(it has: cluster-1, cluster-2\)\. Set 'contexts'/,
  );
});

test('per cluster: current-context of each file unless contexts are named; same names do not collide', () => {
  const one = kubeconfig([
    { name: 'kind-mesh', server: 'https://127.0.0.1:1111', token: 'token-one-1234567' },
  ]);
  const two = kubeconfig([
    { name: 'kind-mesh', server: 'https://127.0.0.1:2222', token: 'token-two-1234567' },
  ]);
  const resolved = resolveKubeconfigs(
    inputs({ 'kubeconfig-1': one, 'kubeconfig-2': Buffer.from(two).toString('base64') }),
    clusters,
    false,
  );
  const doc = YAML.parse(resolved.yaml);
  assert.deepEqual(
    doc.contexts.map((c: { name: string }) => c.name),
    ['cluster-1', 'cluster-2'],
  );
  assert.deepEqual(
    doc.users.map((u: { user: { token: string } }) => u.user.token),
    ['token-one-1234567', 'token-two-1234567'],
  );
  assert.deepEqual(resolved.servers, ['https://127.0.0.1:1111', 'https://127.0.0.1:2222']);
});

test('kubeconfig inputs: none, both kinds, or half of the per-cluster ones are clear errors', () => {
  assert.throws(
    () => resolveKubeconfigs(inputs({}), clusters, false),
    /Input 'kubeconfig': is required for this phase.*Only 'plan'/,
  );
  assert.throws(
    () =>
      resolveKubeconfigs(inputs({ kubeconfig: merged, 'kubeconfig-1': merged }), clusters, false),
    /not both/,
  );
  assert.throws(
    () => resolveKubeconfigs(inputs({ 'kubeconfig-1': merged }), clusters, false),
    /Input 'kubeconfig-2': is missing/,
  );
});

test('the kubeconfig file is 0600 in a 0700 directory under RUNNER_TEMP', () => {
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'kc-test-'));
  const dir = makeRunDir({ RUNNER_TEMP: temp });
  const file = writePrivateFile(dir, 'kubeconfig', merged);
  assert.equal(path.dirname(dir), temp);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  fs.rmSync(temp, { recursive: true });
});

test('the credentials alone are kept apart from the kubeconfig text, for redacting written files', () => {
  const { secrets, credentials } = decodeKubeconfig('kubeconfig', merged);
  assert.ok(credentials.includes('tok-aaaaaaaaaaaaaaaa'));
  assert.ok(credentials.includes('hunter2-hunter2'));
  assert.ok(
    credentials.some((c) => c.startsWith('MHcCAQEEIBkg4LVWM9nu')),
    'each line of the key',
  );
  assert.ok(!credentials.includes('apiVersion: v1'), 'the file’s own lines are no credential');
  assert.ok(secrets.includes('apiVersion: v1'), 'though the log masks them as part of the input');
});
