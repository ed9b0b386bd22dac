import { rm } from 'node:fs/promises';
import * as tc from '@actions/tool-cache';
import semver from 'semver';

/** What an artifact belongs to, so errors can name the inputs a user should check. */
export interface ArtifactSource {
  /** Human name, e.g. `istioctl`. */
  component: string;
  version: string;
  versionInput: string;
  baseUrlInput: string;
}

/**
 * tool-cache treats anything that is not an exact version as a range and would happily return
 * some other cached version for it, so only exact versions may key the cache.
 */
export function requireExactVersion(source: ArtifactSource): void {
  if (!semver.valid(semver.clean(source.version))) {
    throw new Error(
      `The ${source.versionInput} input "${source.version}" is not an exact version ` +
        '(expected something like 1.22.1 or v1.15.1).',
    );
  }
}

/** `<base>/<segments...>`; a base URL with trailing slashes is accepted as written. */
export function artifactUrl(baseUrl: string, ...segments: string[]): string {
  return [baseUrl.replace(/\/+$/, ''), ...segments].join('/');
}

/**
 * A URL fit for logs and errors: a mirror URL may carry credentials (`https://user:token@host/`
 * or a signed query string), which must not reach the job log.
 */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = '***';
      parsed.password = '';
    }
    if (parsed.search) parsed.search = '?***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * Downloads through tool-cache (which already retries 5xx, 408 and 429) and turns its bare
 * `Unexpected HTTP response: 404` into a message that says which input to fix.
 */
export async function downloadArtifact(url: string, source: ArtifactSource): Promise<string> {
  try {
    return await tc.downloadTool(url);
  } catch (error) {
    throw new Error(describeDownloadFailure(url, source, error));
  }
}

function describeDownloadFailure(rawUrl: string, source: ArtifactSource, error: unknown): string {
  const url = displayUrl(rawUrl);
  const check =
    `Check the ${source.versionInput} input (is ${source.version} a released version?) and the ` +
    `${source.baseUrlInput} input (does it hold ${source.version}/ like the upstream release page?).`;
  if (error instanceof tc.HTTPError && error.httpStatusCode === 404) {
    return `${source.component} ${source.version} was not found: ${url} answered 404 Not Found. ${check}`;
  }
  const reason =
    error instanceof tc.HTTPError
      ? `HTTP ${error.httpStatusCode ?? 'error'}`
      : error instanceof Error
        ? error.message
        : String(error);
  return `Could not download ${source.component} ${source.version} from ${url} (${reason}). ${check}`;
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}
