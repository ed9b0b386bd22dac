// A changed server.conf or agent.conf must roll the SPIRE pods, and only then
// (issue 7, item 12): the pod templates carry a digest of the config files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/config/inputs.ts';
import { renderPhase } from '../src/render/index.ts';
import { CONFIG_HASH_ANNOTATION } from '../src/render/spire.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';

const FACTS = {
  bundleEndpoints: {
    'foo.com': 'https://198.51.100.1:8443',
    'bar.com': 'https://198.51.100.2:8443',
  },
};

function hashes(values: Record<string, string>, facts = FACTS): Record<string, string | undefined> {
  const config = parseInputs((name) => ({ phase: 'plan', ...values })[name] ?? '');
  const objects = renderPhase(config, 'spire', config.clusters[0]!, facts).objects;
  const of = (kind: string) =>
    (
      objects.find((o) => o.kind === kind) as K8sObject & {
        spec: { template: { metadata: { annotations?: Record<string, string> } } };
      }
    ).spec.template.metadata.annotations?.[CONFIG_HASH_ANNOTATION];
  return { server: of('StatefulSet'), agent: of('DaemonSet') };
}

test('the same config renders the same digests', () => {
  const first = hashes({});
  assert.match(first.server ?? '', /^[0-9a-f]{16}$/);
  assert.match(first.agent ?? '', /^[0-9a-f]{16}$/);
  assert.deepEqual(hashes({}), first);
});

test('a new trust domain changes both digests; a moved peer endpoint changes the server’s only', () => {
  const base = hashes({});
  const renamed = hashes({ 'trust-domains': 'east.example,bar.com' });
  assert.notEqual(renamed.server, base.server);
  assert.notEqual(renamed.agent, base.agent);
  const moved = hashes(
    {},
    { bundleEndpoints: { ...FACTS.bundleEndpoints, 'bar.com': 'https://198.51.100.9:8443' } },
  );
  assert.notEqual(moved.server, base.server);
  assert.equal(moved.agent, base.agent);
});
