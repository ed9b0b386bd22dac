import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { sha256File } from './checksum.ts';
import { requireExactVersion, type ArtifactSource } from './download.ts';

/**
 * What we knew about a cached file when we put it in the tool cache. tool-cache itself keeps
 * only a `.complete` marker, so without this a corrupted or swapped file would be used forever.
 */
export interface CacheRecord {
  /** The cached file this record vouches for, relative to the cache dir. */
  file: string;
  /** sha256 of that file as installed. */
  sha256: string;
  /** Where it came from and the sha256 of what was downloaded (verified for archives). */
  sourceUrl: string;
  sourceSha256: string;
}

const RECORD_SUFFIX = '.install.json';

export function recordPath(dir: string, file: string): string {
  return join(dir, `${file}${RECORD_SUFFIX}`);
}

export async function writeCacheRecord(dir: string, record: CacheRecord): Promise<void> {
  await writeFile(recordPath(dir, record.file), `${JSON.stringify(record, null, 2)}\n`);
}

export type CacheCheck = { ok: true; record: CacheRecord } | { ok: false; reason: string };

/** Re-hashes a cached file and compares it with the digest recorded at install time. */
export async function verifyCachedFile(dir: string, file: string): Promise<CacheCheck> {
  let record: CacheRecord;
  try {
    record = JSON.parse(await readFile(recordPath(dir, file), 'utf8')) as CacheRecord;
  } catch {
    return {
      ok: false,
      reason: `no readable install record ${recordPath(dir, file)}`,
    };
  }
  if (record.file !== file || typeof record.sha256 !== 'string') {
    return {
      ok: false,
      reason: `install record ${recordPath(dir, file)} is not for ${file}`,
    };
  }
  let actual: string;
  try {
    actual = await sha256File(join(dir, file));
  } catch {
    return { ok: false, reason: `${join(dir, file)} is missing` };
  }
  if (actual !== record.sha256) {
    return {
      ok: false,
      reason: `sha256 of ${join(dir, file)} is ${actual}, but ${record.sha256} was installed`,
    };
  }
  return { ok: true, record };
}

/**
 * The tool-cache folder holding `file` of this version (exact versions only),
 * when the file still has the sha256 recorded at install; a cached copy that
 * fails that check is named in a warning and left, so the caller downloads.
 */
export async function verifiedCacheDir(
  source: ArtifactSource,
  tool: string,
  arch: string,
  file: string,
): Promise<{ dir: string; sha256: string } | undefined> {
  requireExactVersion(source);
  const cached = tc.find(tool, source.version, arch);
  if (!cached) return undefined;
  const check = await verifyCachedFile(cached, file);
  if (check.ok) return { dir: cached, sha256: check.record.sha256 };
  core.warning(
    `Cached ${source.component} ${source.version} failed verification (${check.reason}); downloading it again.`,
  );
  return undefined;
}
