// `manifest generate` reads no cluster: the same binary and operator give the
// same objects, kept beside the binary, so a re-run starts no istioctl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Istioctl } from '../src/cluster/istioctl.ts';
import { checkIstioOverlay } from '../src/phases/istio.ts';
import { parseInputs } from '../src/config/inputs.ts';

const OPERATOR =
  'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: c1}\n';

/**
 * A stand-in istioctl that counts its runs and prints two objects (one with a null); it refuses
 * an operator that names `envv`, as istioctl refuses an unknown field.
 */
function fakeIstioctl(): { path: string; runs: () => number } {
  const dir = mkdtempSync(join(tmpdir(), 'istioctl-generated-'));
  const path = join(dir, 'istioctl');
  const count = join(dir, 'runs');
  writeFileSync(count, '');
  writeFileSync(
    path,
    `#!/bin/sh\necho run >> '${count}'\nif grep -q envv "$4"; then echo 'Error: unknown field "envv"' >&2; exit 1; fi\ncat <<'EOF'\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: istiod\n  namespace: istio-system\n  creationTimestamp: null\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\nEOF\n`,
  );
  chmodSync(path, 0o755);
  return { path, runs: () => readFileSync(count, 'utf8').split('\n').filter(Boolean).length };
}

const istioctlFor = (path: string, sha256: string): Istioctl =>
  new Istioctl(
    async () => ({ path, sha256 }),
    '/dev/null',
    mkdtempSync(join(tmpdir(), 'istioctl-run-')),
  );

test('a second generate of the same operator by the same binary starts no istioctl', async () => {
  const fake = fakeIstioctl();
  const first = await istioctlFor(fake.path, 'a'.repeat(64)).generateObjects('c1.yaml', OPERATOR);
  assert.deepEqual(
    first.map((o) => `${o.kind}/${o.metadata.name}`),
    ['ServiceAccount/istiod', 'Namespace/istio-system'],
  );
  const again = await istioctlFor(fake.path, 'a'.repeat(64)).generateObjects('c1.yaml', OPERATOR);
  assert.deepEqual(again, first);
  assert.equal(fake.runs(), 1);
});

test('another binary, another operator or a damaged kept file generates again', async () => {
  const fake = fakeIstioctl();
  const istioctl = istioctlFor(fake.path, 'b'.repeat(64));
  await istioctl.generateObjects('c1.yaml', OPERATOR);
  await istioctlFor(fake.path, 'c'.repeat(64)).generateObjects('c1.yaml', OPERATOR);
  assert.equal(fake.runs(), 2, 'a binary with another sha256');
  await istioctl.generateObjects('c1.yaml', `${OPERATOR}spec: {profile: minimal}\n`);
  assert.equal(fake.runs(), 3, 'another operator');
  const dir = join(fake.path, '..', 'generated');
  for (const file of readdirSync(dir)) {
    const kept = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      objects: { metadata: { name: string } }[];
    };
    (kept.objects[0] as { metadata: { name: string } }).metadata.name = 'swapped';
    writeFileSync(join(dir, file), JSON.stringify(kept));
  }
  const regenerated = await istioctl.generateObjects('c1.yaml', OPERATOR);
  assert.equal(fake.runs(), 4, 'a kept file that does not hold its digest');
  assert.equal(regenerated[0]?.metadata.name, 'istiod');
});

test('an istio-overlay that passed the check is not checked again by the same binary; a refused one always is', async () => {
  const fake = fakeIstioctl();
  const config = (overlay: string) =>
    parseInputs((name) => ({ phase: 'plan', 'istio-overlay': overlay })[name] ?? '');
  const operator = 'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\n';
  const good = config(operator + 'spec:\n  values:\n    pilot:\n      env: {A: b}\n');
  const bad = config(operator + 'spec:\n  values:\n    pilot:\n      envv: {A: b}\n');
  for (let i = 0; i < 2; i++) await checkIstioOverlay(good, istioctlFor(fake.path, 'd'.repeat(64)));
  assert.equal(fake.runs(), 1);
  for (let i = 0; i < 2; i++)
    await assert.rejects(
      checkIstioOverlay(bad, istioctlFor(fake.path, 'd'.repeat(64))),
      /Input 'istio-overlay'.*unknown field "envv"/,
    );
  assert.equal(fake.runs(), 3);
});
