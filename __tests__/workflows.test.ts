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
