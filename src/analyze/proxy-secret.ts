// What `istioctl proxy-config secret <pod> -o json` says about a sidecar's SDS
// secrets: the protobuf-JSON SecretsConfigDump (camelCase, bytes as base64).
// The Envoy admin config_dump (snake_case, wrapped in `configs`) is read too.

import { decodeBase64, normalizeTrustDomain } from './x509.ts';

/** Istio's SDS resource names for the workload certificate and the trust bundles. */
export const DEFAULT_SECRET = 'default';
export const ROOTCA_SECRET = 'ROOTCA';

export interface ProxySecrets {
  secretNames: string[];
  /** PEM of the `default` secret's certificate chain. */
  chainPem?: string;
  /** ROOTCA from SPIRE's SPIFFE validator: PEM bundle per trust domain name. */
  trustDomainBundles?: Map<string, string>;
  /** ROOTCA as one flat CA list (istiod CA, older Envoy, SPIFFE validation disabled). */
  trustedCaPem?: string;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a protobuf-JSON field in istioctl's camelCase or Envoy admin's snake_case. */
function field(obj: unknown, camel: string): unknown {
  if (!isObject(obj)) return undefined;
  if (camel in obj) return obj[camel];
  const snake = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return obj[snake];
}

function path(obj: unknown, ...names: string[]): unknown {
  return names.reduce<unknown>((o, name) => field(o, name), obj);
}

/** An Envoy DataSource: `bytes` arrive base64-encoded in JSON, `string` as is. */
function dataSource(obj: unknown): string | undefined {
  const bytes = field(obj, 'inlineBytes');
  if (typeof bytes === 'string' && bytes) return decodeBase64(bytes);
  const text = field(obj, 'inlineString');
  return typeof text === 'string' && text ? text : undefined;
}

/** Parses the proxy-config secret dump; throws when it is not one. */
export function parseProxySecrets(dump: string | object): ProxySecrets {
  let doc: unknown = dump;
  if (typeof dump === 'string') {
    try {
      doc = JSON.parse(dump);
    } catch (err) {
      throw new Error(`not JSON: ${(err as Error).message}`);
    }
  }
  // The full Envoy config_dump wraps the secrets dump in `configs`.
  const configs = field(doc, 'configs');
  if (Array.isArray(configs)) {
    doc = configs.find((c) => field(c, 'dynamicActiveSecrets') !== undefined) ?? {};
  }
  const list = field(doc, 'dynamicActiveSecrets');
  if (list !== undefined && !Array.isArray(list)) {
    throw new Error('dynamicActiveSecrets is not a list');
  }
  const secrets = (list ?? []) as unknown[];
  const result: ProxySecrets = { secretNames: secrets.map((s) => String(field(s, 'name') ?? '')) };

  const byName = (name: string): unknown =>
    field(
      secrets.find((s) => field(s, 'name') === name),
      'secret',
    );
  const chain = dataSource(path(byName(DEFAULT_SECRET), 'tlsCertificate', 'certificateChain'));
  if (chain) result.chainPem = chain;

  const validation = path(byName(ROOTCA_SECRET), 'validationContext');
  const domains = path(validation, 'customValidatorConfig', 'typedConfig', 'trustDomains');
  if (Array.isArray(domains)) {
    result.trustDomainBundles = new Map(
      domains.map((d) => [
        normalizeTrustDomain(String(field(d, 'name') ?? '')),
        dataSource(field(d, 'trustBundle')) ?? '',
      ]),
    );
  }
  const flat = dataSource(field(validation, 'trustedCa'));
  if (flat) result.trustedCaPem = flat;
  return result;
}
