// The workflows' own safety rules (issue 7, item 19), read from the YAML.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ROOT } from './helpers/run-action.ts';

const dir = path.join(ROOT, '.github', 'workflows');
const workflows = fs
  .readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => ({ file: f, text: fs.readFileSync(path.join(dir, f), 'utf8') }));

interface Step {
  run?: string;
}
const steps = (text: string): Step[] =>
  Object.values((YAML.parse(text) as { jobs: Record<string, { steps?: Step[] }> }).jobs).flatMap(
    (job) => job.steps ?? [],
  );

test('no run script interpolates an expression (a quote in an output would break or inject)', () => {
  for (const { file, text } of workflows)
    for (const step of steps(text))
      assert.ok(!step.run?.includes('${{'), `${file}: ${step.run?.split('\n')[0]}`);
});

test('background jobs are awaited one by one; a bare wait hides a failure', () => {
  for (const { file, text } of workflows)
    for (const step of steps(text))
      for (const line of (step.run ?? '').split('\n'))
        assert.doesNotMatch(line, /^\s*wait\s*$/, `${file}: bare wait`);
});

test('kind node images are pinned by digest', () => {
  const images = workflows.flatMap(({ text }) => text.match(/kindest\/node:\S+/g) ?? []);
  assert.ok(images.length > 0);
  for (const image of images) assert.match(image, /@sha256:[0-9a-f]{64}$/);
});

test('every action from another repository is pinned by a full commit SHA, its tag in a comment', () => {
  for (const { file, text } of workflows)
    for (const line of text.split('\n')) {
      const uses = /^\s*(?:-\s*)?uses:\s*(\S+)(.*)$/.exec(line);
      if (!uses || (uses[1] as string).startsWith('./')) continue;
      assert.match(uses[1] as string, /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, `${file}: ${line.trim()}`);
      assert.match(uses[2] as string, /#\s*v\d+/, `${file}: ${line.trim()} names no tag`);
    }
});

test('every workflow declares its permissions, and only the release job may write', () => {
  for (const { file, text } of workflows) {
    const doc = YAML.parse(text) as {
      permissions?: Record<string, string>;
      jobs: Record<string, { permissions?: Record<string, string> }>;
    };
    assert.deepEqual(doc.permissions, { contents: 'read' }, `${file}: top-level permissions`);
    for (const [name, job] of Object.entries(doc.jobs)) {
      const writes = Object.entries(job.permissions ?? {}).filter(([, v]) => v === 'write');
      if (writes.length > 0)
        assert.deepEqual([file, name, writes], ['release.yml', 'release', [['contents', 'write']]]);
    }
  }
});

test('dependabot updates npm and the workflows’ actions, grouped', () => {
  const config = YAML.parse(
    fs.readFileSync(path.join(ROOT, '.github', 'dependabot.yml'), 'utf8'),
  ) as { updates: { 'package-ecosystem': string; groups?: object }[] };
  assert.deepEqual(config.updates.map((u) => u['package-ecosystem']).sort(), [
    'github-actions',
    'npm',
  ]);
  for (const u of config.updates) assert.ok(u.groups, `${u['package-ecosystem']} is grouped`);
});
