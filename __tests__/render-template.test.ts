import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { renderTemplate, substitute, type TemplateSource } from '../src/render/template.ts';
import { MANIFESTS } from '../src/render/manifests.generated.ts';
import { embeddedSource } from '../script/embed-manifests.ts';

describe('embedded templates', () => {
  it('are the manifests/ folder as it is (run `npm run package` after changing a template)', () => {
    assert.equal(
      readFileSync(new URL('../src/render/manifests.generated.ts', import.meta.url), 'utf8'),
      embeddedSource(),
    );
    assert.ok(Object.keys(MANIFESTS).includes('spire/server.yaml'));
  });
});

describe('renderTemplate', () => {
  const source: TemplateSource = {
    'typed.yaml': [
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
    'unknown.yaml': "kind: ConfigMap\nmetadata:\n  name: '{{nope}}'\n",
    'inline-list.yaml': "kind: ConfigMap\ndata:\n  x: 'a {{list}}'\n",
  };

  it('puts whole values where a scalar is only a placeholder and text elsewhere', () => {
    const docs = renderTemplate(
      'typed.yaml',
      {
        name: 'demo',
        labels: { app: 'demo' },
        port: 8443,
        text: 'line1\nline2',
        list: ['a', 'b'],
      },
      source,
    );
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
    const [doc] = renderTemplate(
      'typed.yaml',
      {
        name: injection,
        labels: {},
        port: 1,
        text: '',
        list: [],
      },
      source,
    ) as { metadata: { name: string } }[];
    assert.equal(doc?.metadata.name, injection);
  });

  it('throws on a placeholder it has no value for, naming it and the file', () => {
    assert.throws(
      () => renderTemplate('unknown.yaml', { name: 'x' }, source),
      /manifests\/unknown\.yaml: unknown placeholder \{\{nope\}\}/,
    );
  });

  it('refuses a list or map inside a longer string', () => {
    assert.throws(
      () => renderTemplate('inline-list.yaml', { list: ['a'] }, source),
      /not a scalar/,
    );
  });

  it('never changes the cached template', () => {
    const first = renderTemplate(
      'typed.yaml',
      {
        name: 'a',
        labels: {},
        port: 1,
        text: '',
        list: [],
      },
      source,
    );
    const second = renderTemplate(
      'typed.yaml',
      {
        name: 'b',
        labels: {},
        port: 2,
        text: '',
        list: [],
      },
      source,
    );
    assert.equal((first[0] as { metadata: { name: string } }).metadata.name, 'a');
    assert.equal((second[0] as { metadata: { name: string } }).metadata.name, 'b');
  });

  it('does not substitute placeholders found inside values', () => {
    assert.deepEqual(substitute({ a: '{{x}}' }, { x: '{{y}}' }, 'test'), { a: '{{y}}' });
  });
});
