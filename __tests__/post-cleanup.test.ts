// Issue 7, item 6: the post step removes only what the action created. Runs the
// action and its post step from src/ as separate processes (as the runner does,
// state handed over through GITHUB_STATE), on real temp directories holding the
// user's files, so it does not depend on a rebuilt dist/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, filesUnder, parseCommandFile } from './helpers/run-action.ts';

interface Step {
  code: number | null;
  output: string;
  state: Record<string, string>;
}

/** One step of the action: `src/index.ts` (main) or `src/post.ts`, like a runner runs it. */
function step(script: string, env: Record<string, string>, runnerTemp: string): Step {
  const stateFile = path.join(runnerTemp, `state-${path.basename(script)}.txt`);
  fs.writeFileSync(stateFile, '');
  const summary = path.join(runnerTemp, 'summary.md');
  const result = spawnSync(process.execPath, [path.join(ROOT, 'src', script)], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      RUNNER_TEMP: runnerTemp,
      GITHUB_STATE: stateFile,
      GITHUB_OUTPUT: path.join(runnerTemp, 'output.txt'),
      GITHUB_STEP_SUMMARY: summary,
      ...env,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return {
    code: result.status,
    output: `${result.stdout}${result.stderr}`,
    state: parseCommandFile(fs.readFileSync(stateFile, 'utf8')),
  };
}

/** `phase: plan` into `manifestsDir`, then the post step with the state the run saved. */
function planThenPost(manifestsDir: string, beforePost: () => void = () => {}): Step {
  const runnerTemp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-post-runner-'));
  fs.writeFileSync(path.join(runnerTemp, 'summary.md'), '');
  fs.writeFileSync(path.join(runnerTemp, 'output.txt'), '');
  try {
    const main = step(
      'index.ts',
      { INPUT_PHASE: 'plan', 'INPUT_MANIFESTS-DIR': manifestsDir },
      runnerTemp,
    );
    assert.equal(main.code, 0, main.output);
    assert.ok(
      fs.readdirSync(manifestsDir).some((f) => f.endsWith('.yaml')),
      'the plan wrote manifests',
    );
    beforePost();
    const env = Object.fromEntries(
      Object.entries(main.state).map(([key, value]) => [`STATE_${key}`, value]),
    );
    const post = step('post.ts', env, runnerTemp);
    assert.equal(post.code, 0, post.output);
    return post;
  } finally {
    fs.rmSync(runnerTemp, { recursive: true, force: true });
  }
}

/** A workspace as a checkout leaves it, plus a file that shares a manifest's name. */
function userWorkspace(): string {
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-post-ws-'));
  fs.writeFileSync(path.join(workspace, 'README.md'), 'the user’s readme\n');
  fs.mkdirSync(path.join(workspace, 'src'));
  fs.writeFileSync(path.join(workspace, 'src', 'app.ts'), 'export {};\n');
  fs.writeFileSync(path.join(workspace, 'cluster-1-istio.yaml'), '# the user’s own file\n');
  return workspace;
}

const relativeFiles = (dir: string): string[] =>
  filesUnder(dir)
    .map((f) => path.relative(dir, f))
    .sort();

test('manifests-dir: . keeps the workspace: the post step removes only the files the run added', () => {
  const workspace = userWorkspace();
  try {
    planThenPost(workspace);
    // cluster-1-istio.yaml was there before: overwritten by the plan, but it is
    // the user's path, so it stays.
    assert.deepEqual(relativeFiles(workspace), [
      'README.md',
      'cluster-1-istio.yaml',
      path.join('src', 'app.ts'),
    ]);
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
});

test('a manifests-dir the run created is removed with its new parents, nothing above it', () => {
  const workspace = userWorkspace();
  try {
    planThenPost(path.join(workspace, 'out', 'manifests'));
    assert.ok(!fs.existsSync(path.join(workspace, 'out')), 'the folders the run made are gone');
    assert.deepEqual(relativeFiles(workspace), [
      'README.md',
      'cluster-1-istio.yaml',
      path.join('src', 'app.ts'),
    ]);
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
});

test('a manifest path that became the user’s folder after the run is not emptied', () => {
  const workspace = userWorkspace();
  try {
    const post = planThenPost(workspace, () => {
      // Between the run and the post step another step reused the name for a folder.
      const file = path.join(workspace, 'cluster-2-spire.yaml');
      fs.rmSync(file);
      fs.mkdirSync(file);
      fs.writeFileSync(path.join(file, 'keep.txt'), 'the user’s\n');
    });
    assert.ok(fs.existsSync(path.join(workspace, 'cluster-2-spire.yaml', 'keep.txt')), post.output);
    assert.ok(!fs.existsSync(path.join(workspace, 'cluster-1-spire.yaml')));
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
});
