// Paths the post step removes. Saved as action state so the post step finds
// them even when the main step failed half-way.
import * as core from '@actions/core';

const KEY = 'cleanup-paths';
const paths = new Set<string>();

export function rememberForCleanup(p: string): void {
  paths.add(p);
  core.saveState(KEY, JSON.stringify([...paths]));
}

export function pathsToClean(): string[] {
  try {
    const parsed = JSON.parse(core.getState(KEY) || '[]') as unknown;
    return Array.isArray(parsed)
      ? parsed.filter((p): p is string => typeof p === 'string' && p !== '')
      : [];
  } catch {
    return [];
  }
}
