// Runs the built action (dist/index.js) as a runner would: a separate process,
// inputs as INPUT_* variables, summary/output/state as files.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The runner gives every input its action.yml default when the workflow sets
 * none, so the action never sees an empty `contexts` unless action.yml says so.
 */
function actionDefaults(): Record<string, string> {
  const action = YAML.parse(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { default?: string | number | boolean }>;
  };
  return Object.fromEntries(
    Object.entries(action.inputs)
      .filter(([, spec]) => spec.default !== undefined)
      .map(([name, spec]) => [name, String(spec.default)]),
  );
}

/**
 * Runner temp dirs made here, removed when the test process exits: each holds a downloaded
 * istioctl (about 100 MB) and copies of what the run wrote, and tests read them after a run.
 */
const madeTempDirs: string[] = [];
process.once('exit', () => {
  for (const dir of madeTempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  summary: string;
  outputs: Record<string, string>;
  state: Record<string, string>;
  runnerTemp: string;
  ms: number;
}

/** Parses the runner's `name<<delimiter ... delimiter` file format. */
export function parseCommandFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i] as string);
    if (!m) continue;
    const end = lines.indexOf(m[2] as string, i + 1);
    out[m[1] as string] = lines.slice(i + 1, end).join('\n');
    i = end;
  }
  return out;
}

export async function runAction(
  inputs: Record<string, string>,
  options: {
    script?: string;
    env?: Record<string, string>;
    runnerTemp?: string;
    timeoutMs?: number;
    /**
     * SIGKILL the process, as a dying runner would: once its output first
     * matches `output`, or once `signal` settles.
     */
    killWhen?: { output?: RegExp; signal?: Promise<unknown> };
  } = {},
): Promise<ActionRun> {
  const script = path.resolve(ROOT, 'dist', options.script ?? 'index.js');
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: run 'npm run package' first`);
  let runnerTemp = options.runnerTemp;
  if (!runnerTemp) {
    runnerTemp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-action-'));
    madeTempDirs.push(runnerTemp);
  }
  const files = {
    summary: path.join(runnerTemp, 'summary.md'),
    output: path.join(runnerTemp, 'output.txt'),
    state: path.join(runnerTemp, 'state.txt'),
  };
  for (const f of Object.values(files)) if (!fs.existsSync(f)) fs.writeFileSync(f, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    RUNNER_TEMP: runnerTemp,
    RUNNER_TOOL_CACHE: path.join(runnerTemp, 'tool-cache'),
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    ...options.env,
  };
  for (const [name, value] of Object.entries({ ...actionDefaults(), ...inputs }))
    env[`INPUT_${name.replaceAll(' ', '_').toUpperCase()}`] = value;
  const started = Date.now();
  const child = spawn(process.execPath, [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const kill = options.killWhen;
  void kill?.signal?.then(() => child.kill('SIGKILL'));
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (kill?.output?.test(stdout)) child.kill('SIGKILL');
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20 * 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  return {
    code,
    stdout,
    stderr,
    summary: fs.readFileSync(files.summary, 'utf8'),
    outputs: parseCommandFile(fs.readFileSync(files.output, 'utf8')),
    state: parseCommandFile(fs.readFileSync(files.state, 'utf8')),
    runnerTemp,
    ms: Date.now() - started,
  };
}

/** The error lines of a run and its summary: what an assertion message needs. */
export const explain = (run: ActionRun): string =>
  `${run.stdout
    .split('\n')
    .filter((l) => /::error::|FAILED|failed/.test(l))
    .join('\n')}\n${run.summary}`;

/** Every file under a directory, recursively. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}
