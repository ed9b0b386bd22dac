// Agents must not crash-loop while the bundle ConfigMap is still empty (issue
// 7, item 11): an init container waits for the very file agent.conf's
// trust_bundle_path names. Its script runs here for real, against a temp dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseInputs } from '../src/config/inputs.ts';
import { renderPhase } from '../src/render/index.ts';
import { parseHcl } from './helpers/hcl-parse.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';

interface Container {
  name: string;
  command?: string[];
  volumeMounts?: { name: string; mountPath: string }[];
}

function agentObjects() {
  const config = parseInputs((name) => ({ phase: 'plan' })[name] ?? '');
  const objects = renderPhase(config, 'spire', config.clusters[0]!).objects;
  const ds = objects.find((o) => o.kind === 'DaemonSet') as K8sObject & {
    spec: { template: { spec: { initContainers?: Container[]; containers: Container[] } } };
  };
  const cm = objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === 'spire-agent',
  ) as K8sObject & {
    data: Record<string, string>;
  };
  const conf = parseHcl(cm.data['agent.conf'] as string) as {
    agent: { trust_bundle_path: string };
  };
  return { spec: ds.spec.template.spec, bundlePath: conf.agent.trust_bundle_path };
}

test('the agent DaemonSet waits for the bundle file its agent.conf names', () => {
  const { spec, bundlePath } = agentObjects();
  const wait = spec.initContainers?.find((c) => c.name === 'wait-for-bundle');
  assert.ok(wait, 'an init container waits for the bundle');
  assert.ok(wait.command?.join(' ').includes(bundlePath));
  const agentMount = spec.containers
    .find((c) => c.name === 'spire-agent')
    ?.volumeMounts?.find((m) => bundlePath.startsWith(m.mountPath));
  const waitMount = wait.volumeMounts?.find((m) => m.name === agentMount?.name);
  assert.equal(
    waitMount?.mountPath,
    agentMount?.mountPath,
    'both see the same volume at the same path',
  );
});

test('the wait script blocks on a missing or empty bundle and ends once it is filled', async () => {
  const { spec, bundlePath } = agentObjects();
  const [shell, flag, script] = spec.initContainers?.[0]?.command as [string, string, string];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-bundle-'));
  const local = path.join(dir, path.basename(bundlePath));
  const child = spawn(shell, [flag, script.replaceAll(bundlePath, local)], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await new Promise((r) => setTimeout(r, 300));
    fs.writeFileSync(local, '');
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(child.exitCode, null, 'an empty bundle is still waited for');
    fs.writeFileSync(local, '-----BEGIN CERTIFICATE-----\n');
    assert.equal(await exited, 0);
  } finally {
    child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
