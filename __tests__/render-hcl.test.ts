import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attr, block, writeHcl } from '../src/render/hcl.ts';
import { parseHcl } from './helpers/hcl-parse.ts';

describe('writeHcl / parseHcl', () => {
  it('writes blocks, labels, maps and lists that read back to the same structure', () => {
    const text = writeHcl([
      attr('mode', 'reconcile'),
      attr('names', ['a', 'b"c']),
      block(
        'server',
        [],
        [
          attr('port', 8081),
          attr('enabled', true),
          block(
            'federates_with',
            ['bar.com'],
            [
              attr('bundle_endpoint_url', 'https://203.0.113.7:8443'),
              block(
                'bundle_endpoint_profile',
                ['https_spiffe'],
                [attr('endpoint_spiffe_id', 'spiffe://bar.com/spire/server')],
              ),
            ],
          ),
        ],
      ),
      block(
        'plugins',
        [],
        [
          block(
            'NodeAttestor',
            ['k8s_psat'],
            [
              block(
                'plugin_data',
                [],
                [
                  attr('clusters', {
                    'cluster-1': { service_account_allow_list: ['spire:spire-agent'] },
                  }),
                ],
              ),
            ],
          ),
          block('KeyManager', ['memory'], [block('plugin_data', [], [])]),
        ],
      ),
    ]);
    assert.deepEqual(parseHcl(text), {
      mode: 'reconcile',
      names: ['a', 'b"c'],
      server: {
        port: 8081,
        enabled: true,
        federates_with: {
          'bar.com': {
            bundle_endpoint_url: 'https://203.0.113.7:8443',
            bundle_endpoint_profile: {
              https_spiffe: { endpoint_spiffe_id: 'spiffe://bar.com/spire/server' },
            },
          },
        },
      },
      plugins: {
        NodeAttestor: {
          k8s_psat: {
            plugin_data: {
              clusters: { 'cluster-1': { service_account_allow_list: ['spire:spire-agent'] } },
            },
          },
        },
        KeyManager: { memory: { plugin_data: {} } },
      },
    });
  });

  it('quotes keys that are not plain identifiers', () => {
    const text = writeHcl([attr('clusters', { 'cluster-1': { a: 1 } })]);
    assert.match(text, /"cluster-1" = \{/);
    assert.match(text, /\ba = 1/);
  });

  it('keeps a value with quotes and newlines inside one string', () => {
    const tricky = 'x" }\nplugins { evil = "1';
    const parsed = parseHcl(writeHcl([attr('trust_domain', tricky)]));
    assert.deepEqual(parsed, { trust_domain: tricky });
  });

  it('refuses strings HCL v1 would read as an interpolation', () => {
    assert.throws(() => writeHcl([attr('x', 'a${b}')]), /must not contain/);
  });

  it('reads comments, commas and merges repeated blocks', () => {
    const parsed = parseHcl(`
      # comment
      plugins {
        WorkloadAttestor "k8s" { plugin_data { a = 1, } }
        // another
        WorkloadAttestor "unix" { plugin_data {} }
      }
    `);
    assert.deepEqual(parsed, {
      plugins: { WorkloadAttestor: { k8s: { plugin_data: { a: 1 } }, unix: { plugin_data: {} } } },
    });
  });

  it('rejects malformed HCL', () => {
    assert.throws(() => parseHcl('server {'), /missing "}"/);
    assert.throws(() => parseHcl('a = "open'), /unterminated string/);
    assert.throws(() => parseHcl('a = 1\na = 2'), /set twice/);
  });
});
