// The rig's programs come from test/rig/bin-build/build.sh, which records their paths in
// <cache>/bin/manifest.env as RIG_<NAME>=<path> lines.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const REQUIRED_BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kwok',
  'spire-server',
  'cert-manager-controller',
  'k8s-workload-registrar',
] as const;
/** The current profile's SPIRE (build.sh --current). */
export const CURRENT_SPIRE_BINARIES = ['spire-server-1-15', 'spire-controller-manager'] as const;
export type RigBinary =
  | (typeof REQUIRED_BINARIES)[number]
  | (typeof CURRENT_SPIRE_BINARIES)[number]
  | 'istioctl'
  | 'istioctl-1-22';

export const BUILD_COMMAND = 'bash test/rig/bin-build/build.sh';

export type Binaries = Record<RigBinary, string>;

export class MissingBinariesError extends Error {}

export function manifestPath(cacheDir: string): string {
  return join(cacheDir, 'bin', 'manifest.env');
}

function envKey(name: string): string {
  return `RIG_${name.toUpperCase().replace(/-/g, '_')}`;
}

export function parseManifest(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(RIG_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) entries.set(m[1]!, m[2]!.trim().replace(/^(['"])(.*)\1$/, '$2'));
  }
  return entries;
}

/**
 * Reads the manifest and checks every listed file exists. Throws a MissingBinariesError that
 * names what is missing and how to build it. `extra` adds names beyond REQUIRED_BINARIES.
 */
export function loadBinaries(cacheDir: string, extra: RigBinary[] = []): Binaries {
  const path = manifestPath(cacheDir);
  const hint = `build them with \`${BUILD_COMMAND}\` (MESH_RIG_CACHE=${cacheDir})`;
  if (!existsSync(path)) {
    throw new MissingBinariesError(`rig binaries not built: ${path} is missing; ${hint}`);
  }
  const entries = parseManifest(readFileSync(path, 'utf8'));
  const found: Partial<Binaries> = {};
  const missing: string[] = [];
  for (const name of [...REQUIRED_BINARIES, ...extra]) {
    const file = entries.get(envKey(name));
    if (file && existsSync(file)) found[name] = file;
    else missing.push(`${name} (${envKey(name)}=${file ?? ''})`);
  }
  if (missing.length > 0) {
    throw new MissingBinariesError(
      `rig binaries missing from ${path}: ${missing.join(', ')}; ${hint}`,
    );
  }
  return found as Binaries;
}

/**
 * The programs a rig runs: with the current profile its SPIRE server is the 1.15 build
 * (each binary keeps the version it was built as in its path; this only picks which one
 * plays the server).
 */
export function loadRigBinaries(cacheDir: string, profile: 'seed' | 'current'): Binaries {
  if (profile === 'seed') return loadBinaries(cacheDir);
  const bin = loadBinaries(cacheDir, [...CURRENT_SPIRE_BINARIES]);
  return { ...bin, 'spire-server': bin['spire-server-1-15'] };
}
