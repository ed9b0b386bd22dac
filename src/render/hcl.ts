// The SPIRE server, agent and k8s-workload-registrar read HCL (v1). These
// configs are built as data here and written out, so a trust domain or URL is
// always a quoted, escaped string and never becomes syntax. The tests read the
// same subset back (__tests__/helpers/hcl-parse.ts) to check configs by key.

export type HclScalar = string | number | boolean;
export type HclValue = HclScalar | readonly HclScalar[] | HclMap;
export interface HclMap {
  readonly [key: string]: HclValue;
}
export type HclEntry =
  | { readonly kind: 'attr'; readonly name: string; readonly value: HclValue }
  | {
      readonly kind: 'block';
      readonly name: string;
      readonly labels: readonly string[];
      readonly body: readonly HclEntry[];
    };

export const attr = (name: string, value: HclValue): HclEntry => ({ kind: 'attr', name, value });
export const block = (
  name: string,
  labels: readonly string[],
  body: readonly HclEntry[],
): HclEntry => ({ kind: 'block', name, labels, body });

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INDENT = '  ';

function quote(text: string): string {
  // HCL v1 scans `${` as the start of an interpolation even inside strings.
  if (text.includes('${')) throw new Error(`HCL string must not contain "\${": ${text}`);
  return JSON.stringify(text);
}

function key(name: string): string {
  return IDENTIFIER.test(name) ? name : quote(name);
}

function scalar(value: HclScalar): string {
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new Error(`HCL number must be finite: ${value}`);
  }
  return String(value);
}

function value(v: HclValue, depth: number): string {
  if (Array.isArray(v)) return `[${(v as readonly HclScalar[]).map(scalar).join(', ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as HclMap);
    if (entries.length === 0) return '{}';
    const inner = INDENT.repeat(depth + 1);
    const lines = entries.map(([k, item]) => `${inner}${key(k)} = ${value(item, depth + 1)}`);
    return `{\n${lines.join('\n')}\n${INDENT.repeat(depth)}}`;
  }
  return scalar(v as HclScalar);
}

function entries(body: readonly HclEntry[], depth: number): string[] {
  const pad = INDENT.repeat(depth);
  return body.map((entry) => {
    if (entry.kind === 'attr') return `${pad}${key(entry.name)} = ${value(entry.value, depth)}`;
    const head = [key(entry.name), ...entry.labels.map(quote)].join(' ');
    if (entry.body.length === 0) return `${pad}${head} {}`;
    return `${pad}${head} {\n${entries(entry.body, depth + 1).join('\n')}\n${pad}}`;
  });
}

/** HCL text of a config body; top-level blocks are set apart by blank lines. */
export function writeHcl(body: readonly HclEntry[]): string {
  const lines = entries(body, 0);
  const text = lines
    .map((line, i) => {
      const apart = i > 0 && (body[i]?.kind === 'block' || body[i - 1]?.kind === 'block');
      return apart ? `\n${line}` : line;
    })
    .join('\n');
  return `${text}\n`;
}
