// Errors from a cluster, reduced to one line that names the cluster and what
// failed: the client's own messages carry whole response bodies and headers.

import { UserError } from '../model/user-error.ts';

/** An error that already names its cluster. */
export class ClusterError extends UserError {
  constructor(cluster: string, message: string) {
    super('ClusterError', cluster, `cluster '${cluster}': ${message}`);
  }

  get cluster(): string {
    return this.subject;
  }
}

interface ApiLike {
  code?: number;
  body?: unknown;
  cause?: unknown;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
]);

/** The first network error code found on an error or its causes. */
export function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    const errors = (current as { errors?: unknown[] }).errors;
    if (Array.isArray(errors))
      for (const inner of errors) {
        const found = networkCode(inner);
        if (found) return found;
      }
    current = (current as ApiLike).cause;
  }
  if (error instanceof Error && /fetch failed|socket hang up|ECONNREFUSED/.test(error.message))
    return 'ECONNREFUSED';
  return undefined;
}

export function httpStatus(error: unknown): number | undefined {
  const code = (error as ApiLike | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

function bodyMessage(body: unknown): string | undefined {
  if (typeof body === 'string') {
    try {
      return bodyMessage(JSON.parse(body));
    } catch {
      return body.slice(0, 300);
    }
  }
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** One line, no headers, no stack. */
export function describeError(error: unknown): string {
  if (error instanceof ClusterError) return error.message;
  const status = httpStatus(error);
  if (status !== undefined) {
    const message = bodyMessage((error as ApiLike).body) ?? 'no message';
    return `HTTP ${status}: ${message}`;
  }
  const net = networkCode(error);
  if (net) return `network error ${net}`;
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

/** Errors worth another try: the network, throttling, a server busy or starting, a webhook not yet serving. */
export function isTransient(error: unknown): boolean {
  if (networkCode(error)) return true;
  const status = httpStatus(error);
  if (status === undefined) return false;
  if ([408, 425, 429, 500, 502, 503, 504].includes(status)) return true;
  // A kind whose CRD was just created is unknown to discovery for a moment.
  return status === 404 && /could not find the requested resource/.test(describeError(error));
}
