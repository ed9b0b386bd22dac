// A minimal client for the rig's own API calls (health, nodes, status patches). The rig talks
// only to its own API servers on 127.0.0.1 with the admin client certificate.

import { request } from 'node:https';
import { readFileSync } from 'node:fs';

export interface ApiCredentials {
  server: string;
  ca: string;
  cert: string;
  key: string;
}

export interface ApiResponse {
  status: number;
  body: string;
}

export function credentialsFromFiles(
  server: string,
  files: { caCert: string; adminCert: string; adminKey: string },
): ApiCredentials {
  return {
    server,
    ca: readFileSync(files.caCert, 'utf8'),
    cert: readFileSync(files.adminCert, 'utf8'),
    key: readFileSync(files.adminKey, 'utf8'),
  };
}

export function apiRequest(
  creds: ApiCredentials,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
  timeoutMs = 10_000,
): Promise<ApiResponse> {
  const url = new URL(path, creds.server);
  const payload =
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: creds.ca,
        cert: creds.cert,
        key: creds.key,
        headers: {
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': contentType }),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Like apiRequest, but throws unless the status is 2xx (or listed in `okStatuses`). */
export async function apiCall(
  creds: ApiCredentials,
  method: string,
  path: string,
  body?: unknown,
  contentType?: string,
  okStatuses: number[] = [],
): Promise<ApiResponse> {
  const res = await apiRequest(creds, method, path, body, contentType);
  if ((res.status < 200 || res.status >= 300) && !okStatuses.includes(res.status)) {
    throw new Error(
      `${method} ${path} on ${creds.server}: HTTP ${res.status} ${res.body.slice(0, 500)}`,
    );
  }
  return res;
}
