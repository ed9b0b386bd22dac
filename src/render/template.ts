// Parses the YAML templates of manifests/ (embedded at build time) and fills their `{{name}}`
// placeholders. Substitution happens on the parsed tree, never on YAML text, so
// a value is always data: it cannot add keys, documents or anchors. A string
// that is exactly one placeholder takes the value as is (a list, a map, a
// number); a placeholder inside a longer string takes its text.
import YAML from 'yaml';
import { MANIFESTS } from './manifests.generated.ts';

export type TemplateValue =
  | string
  | number
  | boolean
  | null
  | readonly TemplateValue[]
  | { readonly [key: string]: TemplateValue };
export type TemplateValues = Readonly<Record<string, TemplateValue>>;

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}$/;

/** Template files by path under manifests/, as text. */
export type TemplateSource = Readonly<Record<string, string>>;

const parsed = new WeakMap<TemplateSource, Map<string, unknown[]>>();

/**
 * The documents of one template file (path relative to manifests/), parsed
 * once per process. The templates are embedded in the bundle at build time.
 */
export function loadTemplate(file: string, source: TemplateSource = MANIFESTS): unknown[] {
  const cache = parsed.get(source) ?? new Map<string, unknown[]>();
  parsed.set(source, cache);
  const cached = cache.get(file);
  if (cached) return cached;
  const text = source[file];
  if (text === undefined) throw new Error(`manifests/${file}: no such template`);
  const docs: unknown[] = [];
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new Error(`manifests/${file}: invalid YAML: ${doc.errors[0]?.message}`);
    }
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) docs.push(value);
  }
  cache.set(file, docs);
  return docs;
}

function inlineText(value: TemplateValue, name: string, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(
    `${where}: placeholder {{${name}}} sits inside a longer string but its value is not a scalar`,
  );
}

function lookup(values: TemplateValues, name: string, where: string): TemplateValue {
  if (!Object.hasOwn(values, name)) {
    throw new Error(`${where}: unknown placeholder {{${name}}}`);
  }
  return values[name] as TemplateValue;
}

function substituteString(text: string, values: TemplateValues, where: string): string {
  return text.replace(PLACEHOLDER, (_match, name: string) =>
    inlineText(lookup(values, name, where), name, where),
  );
}

function clone(value: TemplateValue): unknown {
  return value === null || typeof value !== 'object' ? value : structuredClone(value);
}

/** A copy of `node` with every placeholder replaced; throws on a placeholder `values` lacks. */
export function substitute(node: unknown, values: TemplateValues, where: string): unknown {
  if (typeof node === 'string') {
    const whole = WHOLE_PLACEHOLDER.exec(node);
    if (whole) return clone(lookup(values, whole[1] as string, where));
    return substituteString(node, values, where);
  }
  if (Array.isArray(node)) return node.map((item) => substitute(item, values, where));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      out[substituteString(key, values, where)] = substitute(value, values, where);
    }
    return out;
  }
  return node;
}

/** Every document of a template file with its placeholders filled. */
export function renderTemplate(
  file: string,
  values: TemplateValues,
  source: TemplateSource = MANIFESTS,
): unknown[] {
  return loadTemplate(file, source).map((doc) => substitute(doc, values, `manifests/${file}`));
}
