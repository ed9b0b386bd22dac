import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { manifestsRoot, renderTemplate, substitute } from '../src/render/template.ts';

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));

describe('manifestsRoot', () => {
  it('finds the manifests folder next to action.yml', () => {
    assert.equal(manifestsRoot(), join(repoRoot, 'manifests'));
  });
});

describe('renderTemplate', () => {
  let dir: string;
  const saved = process.env.MESH_FEDERATION_MANIFESTS;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'render-template-'));
    process.env.MESH_FEDERATION_MANIFESTS = dir;
    writeFileSync(
      join(dir, 'typed.yaml'),
      [
        '# comment-only documents are skipped',
        '---',
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata:',
        "  name: '{{name}}'",
        "  labels: '{{labels}}'",
        'data:',
        "  greeting: 'hello {{name}}, port {{port}}'",
        "  '{{name}}.conf': '{{text}}'",
        "  list: '{{list}}'",
      ].join('\n'),
    );
    writeFileSync(join(dir, 'unknown.yaml'), "kind: ConfigMap\nmetadata:\n  name: '{{nope}}'\n");
    writeFileSync(join(dir, 'inline-list.yaml'), "kind: ConfigMap\ndata:\n  x: 'a {{list}}'\n");
  });

  after(() => {
    if (saved === undefined) delete process.env.MESH_FEDERATION_MANIFESTS;
    else process.env.MESH_FEDERATION_MANIFESTS = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('honours MESH_FEDERATION_MANIFESTS', () => {
    assert.equal(manifestsRoot(), dir);
  });

  it('puts whole values where a scalar is only a placeholder and text elsewhere', () => {
    const docs = renderTemplate('typed.yaml', {
      name: 'demo',
      labels: { app: 'demo' },
      port: 8443,
      text: 'line1\nline2',
      list: ['a', 'b'],
    });
    assert.deepEqual(docs, [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'demo', labels: { app: 'demo' } },
        data: {
          greeting: 'hello demo, port 8443',
          'demo.conf': 'line1\nline2',
          list: ['a', 'b'],
        },
      },
    ]);
  });

  it('keeps a value that looks like YAML a plain string', () => {
    const injection = "x\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\n'";
    const [doc] = renderTemplate('typed.yaml', {
      name: injection,
      labels: {},
      port: 1,
      text: '',
      list: [],
    }) as { metadata: { name: string } }[];
    assert.equal(doc?.metadata.name, injection);
  });

  it('throws on a placeholder it has no value for, naming it and the file', () => {
    assert.throws(
      () => renderTemplate('unknown.yaml', { name: 'x' }),
      /manifests\/unknown\.yaml: unknown placeholder \{\{nope\}\}/,
    );
  });

  it('refuses a list or map inside a longer string', () => {
    assert.throws(() => renderTemplate('inline-list.yaml', { list: ['a'] }), /not a scalar/);
  });

  it('never changes the cached template', () => {
    const first = renderTemplate('typed.yaml', {
      name: 'a',
      labels: {},
      port: 1,
      text: '',
      list: [],
    });
    const second = renderTemplate('typed.yaml', {
      name: 'b',
      labels: {},
      port: 2,
      text: '',
      list: [],
    });
    assert.equal((first[0] as { metadata: { name: string } }).metadata.name, 'a');
    assert.equal((second[0] as { metadata: { name: string } }).metadata.name, 'b');
  });

  it('does not substitute placeholders found inside values', () => {
    assert.deepEqual(substitute({ a: '{{x}}' }, { x: '{{y}}' }, 'test'), { a: '{{y}}' });
  });
});
