import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { verifiedCacheDir, writeCacheRecord } from './cache-record.ts';
import { parseSha256File, sha256File } from './checksum.ts';
import { artifactUrl, displayUrl, downloadArtifact, removeQuietly } from './download.ts';
import type { ArtifactSource } from './download.ts';
import { istioPlatform } from './platform.ts';

const TOOL = 'istioctl';

/** The verified binary: its path, and the sha256 it was checked against on this run. */
export interface InstalledIstioctl {
  path: string;
  sha256: string;
}

/**
 * Installs istioctl <version> from `<base>/<version>/istioctl-<version>-<os>-<arch>.tar.gz`,
 * verified against the sibling `.sha256`, and returns the binary's path.
 *
 * Cache hits are verified too. The archive is gone by then, so at install time we record, next
 * to the binary, the archive's verified sha256 (provenance) and the binary's own sha256; a hit
 * re-hashes the binary against that record and re-downloads on any mismatch or missing record.
 * This catches corruption and a swapped binary without a network round trip. It cannot stop
 * someone who can rewrite both files in the tool cache; re-checking against the mirror on every
 * run would, but would make every run depend on the mirror, which a cache exists to avoid.
 */
export async function installIstioctl(
  version: string,
  baseUrl: string,
): Promise<InstalledIstioctl> {
  const source: ArtifactSource = {
    component: TOOL,
    version,
    versionInput: 'istio-version',
    baseUrlInput: 'istioctl-base-url',
  };
  const platform = istioPlatform();
  const hit = await verifiedCacheDir(source, TOOL, platform, TOOL);
  if (hit) {
    core.info(`Using cached istioctl ${version} (${platform}), sha256 ${hit.sha256}`);
    const binary = join(hit.dir, TOOL);
    await chmod(binary, 0o755);
    return { path: binary, sha256: hit.sha256 };
  }
  return downloadAndCache(source, baseUrl, platform);
}

async function downloadAndCache(
  source: ArtifactSource,
  baseUrl: string,
  platform: string,
): Promise<InstalledIstioctl> {
  const { version } = source;
  const archiveUrl = artifactUrl(baseUrl, version, `istioctl-${version}-${platform}.tar.gz`);
  const checksumUrl = `${archiveUrl}.sha256`;
  const expected = await fetchExpectedSha256(checksumUrl, source);

  core.info(`Downloading istioctl ${version} from ${displayUrl(archiveUrl)}`);
  const archive = await downloadArtifact(archiveUrl, source);
  let extracted: string | undefined;
  try {
    const actual = await sha256File(archive);
    if (actual !== expected) {
      throw new Error(
        `Checksum mismatch for ${displayUrl(archiveUrl)}: expected sha256 ${expected} ` +
          `(from ${displayUrl(checksumUrl)}), ` +
          `got ${actual}. Nothing was installed. The mirror is serving a different or corrupt ` +
          `file: check the istioctl-base-url input and that istio-version ${version} matches ` +
          'what the mirror holds.',
      );
    }
    core.debug(`istioctl archive sha256 ${actual} matches ${displayUrl(checksumUrl)}`);

    extracted = await tc.extractTar(archive);
    const binary = join(extracted, TOOL);
    if (!(await isFile(binary))) {
      throw new Error(
        `${displayUrl(archiveUrl)} has no ${TOOL} at its root, unlike Istio's release archives; ` +
          'check the istioctl-base-url input.',
      );
    }
    const sha256 = await sha256File(binary);
    // Written before cacheDir so the record exists by the time tool-cache marks the entry complete.
    await writeCacheRecord(extracted, {
      file: TOOL,
      sha256,
      sourceUrl: displayUrl(archiveUrl),
      sourceSha256: actual,
    });
    const dir = await tc.cacheDir(extracted, TOOL, version, platform);
    const installed = join(dir, TOOL);
    await chmod(installed, 0o755);
    core.info(`Installed istioctl ${version} (${platform}) at ${installed}`);
    return { path: installed, sha256 };
  } finally {
    await removeQuietly(archive);
    if (extracted) await removeQuietly(extracted);
  }
}

async function fetchExpectedSha256(url: string, source: ArtifactSource): Promise<string> {
  const file = await downloadArtifact(url, source);
  try {
    return parseSha256File(await readFile(file, 'utf8'), displayUrl(url));
  } finally {
    await removeQuietly(file);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
