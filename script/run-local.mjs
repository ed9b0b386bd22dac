#!/usr/bin/env node
// Runs the built action (dist/index.js) the way a runner does: inputs as
// INPUT_* variables, the job summary and outputs written to files. The summary
// is printed to the terminal and kept in ./mesh-federation-summary.md.
//
//   node script/run-local.mjs [phase] [--rig [--real]]
//
// Without --rig it needs no cluster (use the `plan` phase). With --rig it
// starts the two-cluster test rig and its artifact server and runs the phase
// against them; with --real too, every namespace of the run has its pods on a
// real node per cluster (test/rig/node), so verify proves traffic and chains.
// Manifests and diagnostics are kept in the current directory.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const phase = args.find((a) => !a.startsWith('--')) ?? 'plan';
const useRig = args.includes('--rig');
const useReal = args.includes('--real');

const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'mesh-federation-local-'));
const files = {
  summary: path.join(temp, 'summary.md'),
  output: path.join(temp, 'output'),
  state: path.join(temp, 'state'),
};
for (const f of Object.values(files)) fs.writeFileSync(f, '');

const env = {
  ...process.env,
  INPUT_PHASE: phase,
  RUNNER_TEMP: temp,
  RUNNER_TOOL_CACHE:
    process.env.RUNNER_TOOL_CACHE ??
    path.join(os.homedir(), '.cache', 'mesh-federation', 'tool-cache'),
  GITHUB_STEP_SUMMARY: files.summary,
  GITHUB_OUTPUT: files.output,
  GITHUB_STATE: files.state,
  'INPUT_MANIFESTS-DIR':
    process.env['INPUT_MANIFESTS-DIR'] ?? path.join(process.cwd(), 'mesh-federation-manifests'),
  // Under RUNNER_TEMP they would go with the temp folder below, when they are needed most.
  'INPUT_DIAGNOSTICS-DIR':
    process.env['INPUT_DIAGNOSTICS-DIR'] ?? path.join(process.cwd(), 'mesh-federation-diagnostics'),
};

let stopRig = () => {};
if (useRig) {
  if (useReal) {
    const { useRealDemoRig } = await import(path.join(root, 'test', 'rig', 'real-nodes.ts'));
    useRealDemoRig(env);
    useRealDemoRig(process.env);
  }
  const { rigInputs } = await import(path.join(root, 'test', 'rig', 'local-inputs.ts'));
  const rig = await rigInputs(phase);
  Object.assign(env, rig.env);
  stopRig = rig.stop;
}

const started = Date.now();
// Asynchronous, so the artifact server in this process keeps serving the action.
const child = spawn(process.execPath, [path.join(root, 'dist', 'index.js')], {
  env,
  stdio: 'inherit',
});
const run = { status: await new Promise((resolve) => child.on('close', resolve)) };
const seconds = ((Date.now() - started) / 1000).toFixed(1);
stopRig();

const summary = fs.readFileSync(files.summary, 'utf8');
const keep = path.join(process.cwd(), 'mesh-federation-summary.md');
fs.writeFileSync(keep, summary);
process.stdout.write(`\n${'='.repeat(30)} job summary ${'='.repeat(30)}\n${summary}\n`);
process.stdout.write(
  `phase ${phase}: exit ${run.status} after ${seconds}s; summary written to ${keep}; manifests in ${env['INPUT_MANIFESTS-DIR']}\n`,
);
fs.rmSync(temp, { recursive: true, force: true });
process.exit(run.status ?? 1);
