// Whether a server holds a given trust bundle, and whether a `bundle set`
// took, judged by what the server holds afterwards.
import { parseBundle } from './federation.ts';

export const exitText = (code: number | null): string =>
  code === null ? 'exit status unknown' : `exit ${code}`;

function rootFingerprints(bundle: string): string[] {
  try {
    return parseBundle(bundle)
      .roots.map((r) => r.fingerprint256)
      .sort();
  } catch {
    return [];
  }
}

/**
 * Whether `held` (a `bundle list -format spiffe` answer) is the bundle
 * `wanted`: the same X.509 roots, compared as certificates. Sequence
 * numbers, refresh hints, JWT keys and JSON layout do not count.
 */
export function holdsBundle(held: string | null, wanted: string): boolean {
  if (held === null) return false;
  const have = rootFingerprints(held);
  return have.length > 0 && have.join() === rootFingerprints(wanted).join();
}

export type BundleSetVerdict =
  { status: 'done' } | { status: 'unknown'; reason: string } | { status: 'failed'; reason: string };

/**
 * Whether a `bundle set` took, by what the server holds afterwards. The exit
 * status alone never decides: an unknown one (see ExecResult) leaves the
 * command perhaps still running, so the answer is to look again; a known
 * one can be stale when another run set the bundle meanwhile.
 */
export function bundleSetVerdict(
  trustDomain: string,
  exitCode: number | null,
  stderr: string,
  readBack: string | null,
  wanted: string,
): BundleSetVerdict {
  if (holdsBundle(readBack, wanted)) return { status: 'done' };
  const held = readBack === null ? 'holds no bundle' : 'holds other roots';
  if (exitCode === null)
    return {
      status: 'unknown',
      reason: `bundle set for ${trustDomain} ended without an exit status and the server ${held} for it`,
    };
  if (exitCode === 0)
    return {
      status: 'failed',
      reason: `bundle set for ${trustDomain} reported success, but the server ${held} for it`,
    };
  return {
    status: 'failed',
    reason: `bundle set for ${trustDomain} failed (${exitText(exitCode)}${stderr.trim() ? `: ${stderr.trim()}` : ''}); the server ${held} for it`,
  };
}
