// Files the rig reads out of Go modules already in the module cache (kwok's stages,
// cert-manager's CRDs). Nothing here downloads: a missing module is an error naming the command.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

let cached: string | undefined;

export function goModCache(): string {
  if (cached) return cached;
  cached = process.env.GOMODCACHE;
  if (!cached) {
    try {
      cached = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
    } catch {
      cached = join(process.env.GOPATH || join(homedir(), 'go'), 'pkg', 'mod');
    }
  }
  return cached;
}

/** The unpacked module directory; module paths with capitals use Go's `!x` escaping. */
export function moduleDir(module: string, version: string): string {
  const escaped = module.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
  const dir = join(goModCache(), `${escaped}@${version}`);
  if (!existsSync(dir)) {
    throw new Error(
      `Go module ${module}@${version} is not in ${goModCache()}; fetch it with \`go mod download ${module}@${version}\``,
    );
  }
  return dir;
}
