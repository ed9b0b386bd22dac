// Reads back the HCL that src/render/hcl.ts writes (SPIRE's server.conf and
// agent.conf), so tests can check the rendered configs as data. Test-only: the
// action writes HCL, it never reads it.

type Token =
  | { type: 'ident'; text: string; at: number }
  | { type: 'string'; text: string; at: number }
  | { type: 'number'; value: number; at: number }
  | { type: 'punct'; text: string; at: number };

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#' || text.startsWith('//', i)) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`HCL: unterminated comment at ${i}`);
      i = end + 2;
    } else if ('{}[]=,'.includes(c)) {
      tokens.push({ type: 'punct', text: c, at: i });
      i++;
    } else if (c === '"') {
      const at = i;
      let out = '';
      i++;
      for (;;) {
        const d = text[i];
        if (d === undefined || d === '\n') throw new Error(`HCL: unterminated string at ${at}`);
        i++;
        if (d === '"') break;
        if (d !== '\\') {
          out += d;
          continue;
        }
        const e = text[i] as string;
        if (e === 'u') {
          out += String.fromCharCode(parseInt(text.slice(i + 1, i + 5), 16));
          i += 5;
        } else if (e in ESCAPES) {
          out += ESCAPES[e];
          i++;
        } else {
          throw new Error(`HCL: unknown escape \\${e} at ${i}`);
        }
      }
      tokens.push({ type: 'string', text: out, at });
    } else {
      const match = /^-?[0-9]+(\.[0-9]+)?|^[A-Za-z_][A-Za-z0-9_.-]*/.exec(text.slice(i));
      if (!match) throw new Error(`HCL: unexpected character ${JSON.stringify(c)} at ${i}`);
      const word = match[0];
      tokens.push(
        /^-?[0-9]/.test(word)
          ? { type: 'number', value: Number(word), at: i }
          : { type: 'ident', text: word, at: i },
      );
      i += word.length;
    }
  }
  return tokens;
}

type Json = string | number | boolean | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergeInto(target: JsonObject, name: string, v: Json): void {
  const existing = target[name];
  if (existing === undefined) {
    target[name] = v;
  } else if (isObject(existing) && isObject(v)) {
    for (const [k, item] of Object.entries(v)) mergeInto(existing, k, item);
  } else {
    throw new Error(`HCL: "${name}" is set twice`);
  }
}

class Parser {
  private pos = 0;
  private readonly tokens: Token[];
  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private next(what: string): Token {
    const token = this.tokens[this.pos++];
    if (!token) throw new Error(`HCL: expected ${what}, found the end`);
    return token;
  }

  private isPunct(text: string): boolean {
    const token = this.peek();
    return token?.type === 'punct' && token.text === text;
  }

  private expect(text: string): void {
    const token = this.next(`"${text}"`);
    if (token.type !== 'punct' || token.text !== text) {
      throw new Error(`HCL: expected "${text}" at ${token.at}`);
    }
  }

  body(closing: boolean): JsonObject {
    const out: JsonObject = {};
    for (;;) {
      if (closing && this.isPunct('}')) {
        this.pos++;
        return out;
      }
      if (!this.peek()) {
        if (closing) throw new Error('HCL: missing "}"');
        return out;
      }
      if (this.isPunct(',')) {
        this.pos++;
        continue;
      }
      const head = this.next('a key');
      if (head.type !== 'ident' && head.type !== 'string') {
        throw new Error(`HCL: expected a key at ${head.at}`);
      }
      const labels: string[] = [];
      while (this.peek()?.type === 'string' || this.peek()?.type === 'ident') {
        labels.push((this.next('a label') as { text: string }).text);
      }
      let v: Json;
      if (this.isPunct('=')) {
        if (labels.length > 0) throw new Error(`HCL: labels before "=" at ${head.at}`);
        this.pos++;
        v = this.value();
      } else {
        this.expect('{');
        v = this.body(true);
      }
      for (const label of [...labels].reverse()) v = { [label]: v };
      mergeInto(out, head.text, v);
    }
  }

  value(): Json {
    const token = this.next('a value');
    if (token.type === 'string') return token.text;
    if (token.type === 'number') return token.value;
    if (token.type === 'ident' && (token.text === 'true' || token.text === 'false')) {
      return token.text === 'true';
    }
    if (token.type === 'punct' && token.text === '{') return this.body(true);
    if (token.type === 'punct' && token.text === '[') {
      const items: Json[] = [];
      for (;;) {
        if (this.isPunct(']')) {
          this.pos++;
          return items;
        }
        items.push(this.value());
        if (this.isPunct(',')) this.pos++;
        else if (!this.isPunct(']')) throw new Error('HCL: expected "," or "]" in a list');
      }
    }
    throw new Error(`HCL: unexpected token at ${token.at}`);
  }
}

/** Parses HCL into nested objects: `a "x" "y" { ... }` becomes `{a: {x: {y: {...}}}}`. */
export function parseHcl(text: string): Record<string, unknown> {
  return new Parser(tokenize(text)).body(false);
}
