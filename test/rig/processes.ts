// Long-running rig processes: each one is started detached in its own process group (so it
// outlives `rig up` and `down` can stop it with its children), logs to <dir>/<name>.log and
// is recorded in <dir>/<name>.pid together with its exact command line, so a recycled pid
// is never mistaken for ours.

import { spawn } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessSpec {
  name: string;
  /** Holds the pid file and the log. */
  dir: string;
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
}

interface PidRecord {
  pid: number;
  argv: string[];
}

export const pidFile = (dir: string, name: string) => join(dir, `${name}.pid`);
export const logFile = (dir: string, name: string) => join(dir, `${name}.log`);

function readCmdline(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').slice(0, -1);
  } catch {
    return undefined;
  }
}

function readRecord(file: string): PidRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
  } catch {
    return undefined;
  }
}

/** The pid if the recorded process is alive and still runs the recorded command line. */
export function runningPid(dir: string, name: string): number | undefined {
  const rec = readRecord(pidFile(dir, name));
  if (!rec) return undefined;
  const cmd = readCmdline(rec.pid);
  if (!cmd || cmd.join('\0') !== rec.argv.join('\0')) return undefined;
  // A zombie still has a cmdline only until reaped; check its state too.
  const stat = readFileSync(`/proc/${rec.pid}/stat`, 'utf8');
  return /\) Z /.test(stat) ? undefined : rec.pid;
}

/** The caller's environment minus what only concerns the caller (e.g. `node --test`'s). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  return env;
}

/** Starts the process unless it already runs; returns its pid. */
export function startProcess(spec: ProcessSpec): number {
  const existing = runningPid(spec.dir, spec.name);
  if (existing) return existing;
  const log = logFile(spec.dir, spec.name);
  appendFileSync(log, `=== ${new Date().toISOString()} ${spec.argv.join(' ')}\n`);
  const fd = openSync(log, 'a');
  try {
    const [cmd, ...args] = spec.argv;
    const child = spawn(cmd!, args, {
      cwd: spec.cwd ?? spec.dir,
      env: childEnv(spec.env),
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    if (child.pid === undefined) throw new Error(`cannot start ${spec.name}: ${cmd}`);
    child.unref();
    writeFileSync(
      pidFile(spec.dir, spec.name),
      JSON.stringify({ pid: child.pid, argv: spec.argv }),
    );
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; removes the pid file. */
export async function stopProcess(dir: string, name: string, graceMs = 10_000): Promise<void> {
  const pid = runningPid(dir, name);
  if (pid) {
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (runningPid(dir, name) && Date.now() < deadline) await sleep(100);
    if (runningPid(dir, name)) signalGroup(pid, 'SIGKILL');
    while (runningPid(dir, name)) await sleep(50);
  }
  rmSync(pidFile(dir, name), { force: true });
}

/** Every pid file under `root`, as {dir, name}. */
export function findPidFiles(root: string): { dir: string; name: string }[] {
  if (!existsSync(root)) return [];
  const out: { dir: string; name: string }[] = [];
  for (const e of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.pid')) {
      out.push({ dir: e.parentPath, name: e.name.slice(0, -'.pid'.length) });
    }
  }
  return out;
}

/** Resident memory of every process in the group led by `pid`, in bytes. */
export function groupRssBytes(pid: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command: state ppid pgrp ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pid) continue;
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status);
      if (kb) total += Number(kb[1]) * 1024;
    } catch {
      // The process exited while we looked.
    }
  }
  return total;
}
