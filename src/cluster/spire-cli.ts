// The SPIRE server CLI, by exec into the cluster's server pod as the seed runs
// it, under one policy: an answer that ran nothing (the socket not open yet,
// or a read without an exit status) is asked again until the run's timeout;
// every other answer is judged by the caller, and a failure names the cluster.
import type { Attempt, ClusterApi, ExecResult } from './api.ts';
import { ClusterError } from './errors.ts';
import { SPIRE_NAMESPACE, SPIRE_SERVER } from '../model/names.ts';
import { bundleSetVerdict, exitText } from '../analyze/bundle-set.ts';

/** `./bin/spire-server <args> -socketPath …` in the cluster's server pod, by exec, as the seed runs it. */
export function spireServerCli(client: ClusterApi, args: string[], stdin?: string) {
  return client.exec(
    SPIRE_NAMESPACE,
    SPIRE_SERVER.pod,
    SPIRE_SERVER.container,
    [SPIRE_SERVER.binary, ...args, '-socketPath', SPIRE_SERVER.socket],
    stdin === undefined ? {} : { stdin },
  );
}

/** What spire-server says when nothing listens on its admin socket yet. */
const NOT_LISTENING = /dial unix \S+: connect: (no such file or directory|connection refused)/;

/**
 * The one policy for the phase's spire-server calls. A Ready pod's server may
 * still be opening its socket: that answer ran nothing, so it is asked again
 * until the run's timeout (the client already retries refused handshakes).
 * Any other answer goes to `judge`, which returns the value, asks for another
 * look (`pending`), or throws.
 */
export async function askServer<T>(
  client: ClusterApi,
  args: string[],
  judge: (result: ExecResult) => Attempt<T>,
  stdin?: string,
): Promise<T> {
  return client.until(`spire-server ${args.slice(0, 2).join(' ')} answers`, async () => {
    const result = await spireServerCli(client, args, stdin);
    if (NOT_LISTENING.test(result.stderr))
      return { pending: `the server is not listening yet (${result.stderr.trim()})` };
    return judge(result);
  });
}

export function cliFailure(client: ClusterApi, what: string, result: ExecResult): ClusterError {
  const said = result.stderr.trim() || result.stdout.trim();
  return new ClusterError(
    client.cluster.context,
    `${what} failed (${exitText(result.exitCode)}${said ? `: ${said}` : ''})`,
  );
}

/** `bundle show -format spiffe` of the cluster's own server. */
export async function showOwnBundle(client: ClusterApi): Promise<string> {
  return askServer<string>(client, ['bundle', 'show', '-format', 'spiffe'], (result) => {
    // A server whose CA is still being signed upstream has no bundle to show yet.
    if (result.exitCode === 0 && result.stdout.trim() !== '') return { value: result.stdout };
    if (result.exitCode === 0 || result.exitCode === null)
      return { pending: `bundle show printed nothing (${exitText(result.exitCode)})` };
    throw cliFailure(client, 'bundle show', result);
  });
}

/** The bundle this cluster's server holds for `trustDomain`; null when it holds none; throws when it cannot tell. */
export async function heldBundle(client: ClusterApi, trustDomain: string): Promise<string | null> {
  const args = ['bundle', 'list', '-id', `spiffe://${trustDomain}`, '-format', 'spiffe'];
  return askServer<string | null>(client, args, (result) => {
    if (result.exitCode === 0) return { value: result.stdout.trim() === '' ? null : result.stdout };
    if (/not ?found|no such bundle/i.test(result.stderr + result.stdout)) return { value: null };
    // A read ended without a status: its output may be cut short, so read again.
    if (result.exitCode === null) return { pending: 'bundle list ended without an exit status' };
    throw cliFailure(client, `bundle list for ${trustDomain}`, result);
  });
}

/** How an unconfirmed set is read back: the pauses before each look, and how often it is sent. */
export interface BundleSetPace {
  readBackDelaysMs: readonly number[];
  tries: number;
}
/** A set usually shows within a second of the socket closing; about 5s per send is generous. */
export const BUNDLE_SET_PACE: BundleSetPace = {
  readBackDelaysMs: [250, 500, 1000, 1500, 2000],
  tries: 3,
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `bundle set` over exec stdin, confirmed by reading the bundle back. A set
 * whose status never came may still be running, or its input may have been
 * cut off with the socket: it is read back for a while, then sent again
 * (setting the same bundle twice is harmless).
 */
export async function setPeerBundle(
  client: ClusterApi,
  trustDomain: string,
  bundle: string,
  pace: BundleSetPace,
): Promise<void> {
  const args = ['bundle', 'set', '-id', `spiffe://${trustDomain}`, '-format', 'spiffe'];
  let unconfirmed = '';
  for (let tries = 1; tries <= pace.tries; tries++) {
    const sent = await askServer(client, args, (result) => ({ value: result }), bundle);
    for (const delay of [0, ...pace.readBackDelaysMs]) {
      await sleep(delay);
      const readBack = await heldBundle(client, trustDomain);
      const verdict = bundleSetVerdict(trustDomain, sent.exitCode, sent.stderr, readBack, bundle);
      if (verdict.status === 'done') return;
      if (verdict.status === 'failed')
        throw new ClusterError(client.cluster.context, verdict.reason);
      unconfirmed = verdict.reason;
    }
  }
  throw new ClusterError(client.cluster.context, `${unconfirmed}, after ${pace.tries} tries`);
}

/** The output of a read-only command (`entry show`, `bundle list`); a failure throws, naming the cluster. */
export async function spireRead(client: ClusterApi, args: string[]): Promise<string> {
  return askServer<string>(client, args, (result) => {
    if (result.exitCode === 0) return { value: result.stdout };
    if (result.exitCode === null)
      return { pending: `${args.slice(0, 2).join(' ')} ended without an exit status` };
    throw cliFailure(client, args.slice(0, 2).join(' '), result);
  });
}
