// What the post step removes: only paths this run created, each saved as
// action state the moment it exists, so the post step finds them even when the
// main step failed half-way. A folder that was there before is never removed;
// only the files this run added to it.
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';

const KEY = 'cleanup-paths';

export interface Created {
  path: string;
  /** Only folders the run made are removed recursively; a file stays a single unlink. */
  dir: boolean;
}

const created = new Map<string, Created>();

function remember(entry: Created): void {
  created.set(entry.path, entry);
  core.saveState(KEY, JSON.stringify([...created.values()]));
}

export const rememberCreatedDir = (p: string): void =>
  remember({ path: path.resolve(p), dir: true });
export const rememberCreatedFile = (p: string): void =>
  remember({ path: path.resolve(p), dir: false });

/**
 * Makes `dir` (and missing parents) and returns a writer into it (names may
 * hold subfolders). The post step
 * will remove the topmost folder made here, or, when `dir` already existed
 * (`manifests-dir: .` is the workspace), just the files the writer added.
 */
export function trackedDir(dir: string): (name: string, content: string) => string {
  const madeTop = fs.mkdirSync(dir, { recursive: true });
  if (madeTop) rememberCreatedDir(madeTop);
  return (name, content) => {
    const file = path.join(dir, name);
    const madeSub = fs.mkdirSync(path.dirname(file), { recursive: true });
    if (!madeTop && madeSub) rememberCreatedDir(madeSub);
    // A file that was there before is the user's path: overwritten, never removed.
    else if (!madeTop && !fs.existsSync(file)) rememberCreatedFile(file);
    fs.writeFileSync(file, content);
    return file;
  };
}

const isCreated = (e: unknown): e is Created =>
  typeof e === 'object' &&
  e !== null &&
  typeof (e as Created).path === 'string' &&
  (e as Created).path !== '' &&
  typeof (e as Created).dir === 'boolean';

export function pathsToClean(): Created[] {
  try {
    const parsed = JSON.parse(core.getState(KEY) || '[]') as unknown;
    return Array.isArray(parsed) ? parsed.filter(isCreated) : [];
  } catch {
    return [];
  }
}

/** Removes what the run created; a failure to remove one path never stops the rest. */
export function removeCreated(
  entries: Created[],
  log: { info: (m: string) => void; warning: (m: string) => void },
): void {
  for (const entry of entries) {
    try {
      // Not recursive for a file: if another step has since put a folder at
      // that path, rmSync refuses instead of emptying it.
      fs.rmSync(entry.path, { recursive: entry.dir, force: true });
      log.info(`removed ${entry.path}`);
    } catch (error) {
      log.warning(`kept ${entry.path}: ${(error as Error).message}`);
    }
  }
}
