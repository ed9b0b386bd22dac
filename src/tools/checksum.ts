import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Hex sha256 of a file, streamed so large archives are never held in memory. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The digest in a `<hex> <name>` checksum file. Split on any whitespace: Istio writes a single
 * space, `sha256sum` two, and mirrors may add CRLF.
 */
export function parseSha256File(content: string, url: string): string {
  const digest = content.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  if (!SHA256_HEX.test(digest)) {
    throw new Error(
      `The checksum file ${url} does not start with a sha256 digest (64 hex characters); ` +
        'the mirror may be serving an error page instead of the file.',
    );
  }
  return digest;
}
