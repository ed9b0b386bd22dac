import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { verifiedCacheDir, writeCacheRecord } from './cache-record.ts';
import { sha256Text } from './checksum.ts';
import { artifactUrl, displayUrl, downloadArtifact, removeQuietly } from './download.ts';
import type { ArtifactSource } from './download.ts';

const TOOL = 'cert-manager-manifest';
const FILE = 'cert-manager.yaml';
// The manifest is the same on every CPU; a fixed key stops tool-cache filing it under os.arch().
const ARCH = 'any';

/**
 * The YAML of `<base>/<version>/cert-manager.yaml`, cached per version. Upstream publishes no
 * checksum for it, so its sha256 is logged and recorded to detect later changes to the cached copy.
 */
export async function fetchCertManagerManifest(version: string, baseUrl: string): Promise<string> {
  const source: ArtifactSource = {
    component: 'cert-manager manifest',
    version,
    versionInput: 'cert-manager-version',
    baseUrlInput: 'cert-manager-base-url',
  };
  const hit = await verifiedCacheDir(source, TOOL, ARCH, FILE);
  if (hit) {
    core.info(`Using cached cert-manager ${version} manifest, sha256 ${hit.sha256}`);
    return readFile(join(hit.dir, FILE), 'utf8');
  }

  const url = artifactUrl(baseUrl, version, FILE);
  core.info(`Downloading cert-manager ${version} manifest from ${displayUrl(url)}`);
  const downloaded = await downloadArtifact(url, source);
  let staging: string | undefined;
  try {
    const text = await readFile(downloaded, 'utf8');
    if (!/^kind:\s*\S/m.test(text)) {
      throw new Error(
        `${displayUrl(url)} does not look like a Kubernetes manifest (no "kind:" line); ` +
          'check the cert-manager-base-url input.',
      );
    }
    const digest = sha256Text(text);
    core.debug(
      `cert-manager ${version} manifest sha256 ${digest} (upstream publishes no checksum)`,
    );

    staging = await mkdtemp(join(process.env['RUNNER_TEMP'] || tmpdir(), 'cert-manager-'));
    await writeFile(join(staging, FILE), text);
    await writeCacheRecord(staging, {
      file: FILE,
      sha256: digest,
      sourceUrl: displayUrl(url),
      sourceSha256: digest,
    });
    await tc.cacheDir(staging, TOOL, version, ARCH);
    return text;
  } finally {
    await removeQuietly(downloaded);
    if (staging) await removeQuietly(staging);
  }
}
