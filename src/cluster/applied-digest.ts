// A re-run must not write what the cluster already holds. Server-side apply
// would leave such an object as it is, but it is still a request that costs
// validation, webhooks and, for a large CRD, seconds. So an object is sent only
// when the live one does not hold it: the live object must carry the digest of
// the very body we would send (so the fields we stopped sending are removed by
// an apply, as server-side apply does), and every field we send must still
// have our value (so someone else's edit is put right). Either test failing
// only costs one apply; neither can pass while the apply would change anything.
import { createHash } from 'node:crypto';
import type { K8sObject } from '../model/k8s-object.ts';

export const APPLIED_DIGEST_ANNOTATION = 'mesh-federation.io/applied-digest';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A null says nothing to server-side apply (istioctl prints `creationTimestamp: null`): it is never sent. */
function withoutNulls(value: Json): Json {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}

function canonical(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k] as Json)}`).join(',')}}`;
}

/** The body to apply: nulls dropped, and the digest of the rest as an annotation. */
export function withAppliedDigest(object: K8sObject): K8sObject {
  const body = withoutNulls(object as unknown as Json) as unknown as K8sObject;
  const annotations = { ...body.metadata.annotations };
  delete annotations[APPLIED_DIGEST_ANNOTATION];
  const unsigned = { ...body, metadata: { ...body.metadata, annotations } };
  const digest = createHash('sha256')
    .update(canonical(unsigned as unknown as Json))
    .digest('hex');
  return {
    ...body,
    metadata: {
      ...body.metadata,
      annotations: { ...annotations, [APPLIED_DIGEST_ANNOTATION]: digest },
    },
  };
}

/** Fields whose values are resource quantities, which the API server writes in canonical form. */
const QUANTITY_MAPS = new Set(['requests', 'limits', 'hard', 'capacity', 'overhead']);
const QUANTITY_FIELDS = new Set(['sizeLimit']);
const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

function quantity(value: string): number | undefined {
  const m =
    /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(
      value,
    );
  return m ? Number(m[1]) * (SUFFIX[m[2] ?? ''] as number) : undefined;
}

/** "2048Mi" is held as "2Gi", "0.5" as "500m". */
function sameQuantity(live: Json | undefined, sent: Json): boolean {
  if (typeof live !== 'string' || typeof sent !== 'string') return false;
  const [a, b] = [quantity(live), quantity(sent)];
  return a !== undefined && b !== undefined && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
}

/**
 * Does `live` have every field of `sent` with the same value? Lists must match
 * item for item. Built-in kinds do not store an empty string (`value: ""` of
 * an env var), so one sent is held by its absence.
 */
function holds(live: Json | undefined, sent: Json, key = '', parent = ''): boolean {
  if (Array.isArray(sent))
    return (
      Array.isArray(live) &&
      live.length === sent.length &&
      sent.every((item, i) => holds(live[i], item, key, parent))
    );
  if (sent !== null && typeof sent === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
    return Object.entries(sent).every(([k, v]) => holds(live[k], v, k, key));
  }
  if (live === sent) return true;
  if (sent === '' && live === undefined) return true;
  return (QUANTITY_MAPS.has(parent) || QUANTITY_FIELDS.has(key)) && sameQuantity(live, sent);
}

/** A Secret sent with `stringData` is held as base64 `data`. */
function asStored(body: K8sObject): K8sObject {
  const stringData = body.stringData as Record<string, string> | undefined;
  if (body.kind !== 'Secret' || !stringData) return body;
  const { stringData: _sent, ...rest } = body;
  const data = { ...(body.data as Record<string, string> | undefined) };
  for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v).toString('base64');
  return { ...rest, data };
}

/**
 * True when applying `body` (from `withAppliedDigest`) to `live` would change
 * nothing. `status` is not compared: an apply to the object never writes it.
 */
export function holdsApplied(live: K8sObject, body: K8sObject): boolean {
  const digest = body.metadata.annotations?.[APPLIED_DIGEST_ANNOTATION];
  if (!digest || live.metadata.annotations?.[APPLIED_DIGEST_ANNOTATION] !== digest) return false;
  const { status: _status, ...sent } = asStored(body);
  return holds(live as unknown as Json, sent as unknown as Json);
}
