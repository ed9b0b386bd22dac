// A YAML manifest downloaded once per version and kept in the tool cache. Upstream
// publishes no checksum for these, so the sha256 of the first download is recorded
// and every later use refuses a cached copy that no longer matches it.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { verifiedCacheDir, writeCacheRecord } from './cache-record.ts';
import { sha256Text } from './checksum.ts';
import { displayUrl, downloadArtifact, removeQuietly } from './download.ts';
import type { ArtifactSource } from './download.ts';
import { keptObjects } from './kept-objects.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { parseObjects } from '../yaml-docs.ts';

// A manifest is the same on every CPU; a fixed key stops tool-cache filing it under os.arch().
const ARCH = 'any';

export interface ManifestDownload {
  source: ArtifactSource;
  /** tool-cache name, one per kind of file. */
  tool: string;
  /** File name inside the cache entry. */
  file: string;
  url: string;
  /** Which input to check when what came back is no Kubernetes manifest. */
  baseUrlInput: string;
}

/** The manifest's objects. Its parse is kept beside it in the tool cache, by the manifest's sha256. */
export async function fetchManifestObjects(
  d: ManifestDownload,
  label: string,
): Promise<K8sObject[]> {
  const { text, dir, sha256 } = await fetchManifest(d);
  return keptObjects(join(dir, 'parsed', `${sha256}.json`), async () => parseObjects(text, label));
}

async function fetchManifest(
  d: ManifestDownload,
): Promise<{ text: string; dir: string; sha256: string }> {
  const { source, tool, file, url } = d;
  const hit = await verifiedCacheDir(source, tool, ARCH, file);
  if (hit) {
    core.info(`Using cached ${source.component} ${source.version}, sha256 ${hit.sha256}`);
    return { text: await readFile(join(hit.dir, file), 'utf8'), ...hit };
  }
  core.info(`Downloading ${source.component} ${source.version} from ${displayUrl(url)}`);
  const downloaded = await downloadArtifact(url, source);
  let staging: string | undefined;
  try {
    const text = await readFile(downloaded, 'utf8');
    if (!/^kind:\s*\S/m.test(text)) {
      throw new Error(
        `${displayUrl(url)} does not look like a Kubernetes manifest (no "kind:" line); ` +
          `check the ${d.baseUrlInput} input.`,
      );
    }
    const digest = sha256Text(text);
    core.debug(
      `${source.component} ${source.version} sha256 ${digest} (upstream publishes no checksum)`,
    );
    staging = await mkdtemp(join(process.env['RUNNER_TEMP'] || tmpdir(), `${tool}-`));
    await writeFile(join(staging, file), text);
    await writeCacheRecord(staging, {
      file,
      sha256: digest,
      sourceUrl: displayUrl(url),
      sourceSha256: digest,
    });
    const dir = await tc.cacheDir(staging, tool, source.version, ARCH);
    return { text, dir, sha256: digest };
  } finally {
    await removeQuietly(downloaded);
    if (staging) await removeQuietly(staging);
  }
}
