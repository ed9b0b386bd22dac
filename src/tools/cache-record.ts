import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File } from './checksum.ts';

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
