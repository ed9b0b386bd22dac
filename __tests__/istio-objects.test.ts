import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withoutIstiodManagedFields } from '../src/phases/istio.ts';
import { parseObjects } from '../src/yaml-docs.ts';

const generated = `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: istio-validator-istio-system
webhooks:
  - name: rev.validation.istio.io
    failurePolicy: Ignore
    clientConfig:
      service: { name: istiod, namespace: istio-system, path: /validate }
      caBundle: ""
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: istio-sidecar-injector
webhooks:
  - name: rev.namespace.sidecar-injector.istio.io
    failurePolicy: Fail
    clientConfig:
      service: { name: istiod, namespace: istio-system, path: /inject }
      caBundle: ""
  - name: pinned.sidecar-injector.istio.io
    clientConfig:
      url: https://injector.example/inject
      caBundle: Q0EK
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data: { mesh: "{}" }
`;

test('fields istiod manages at run time are left to istiod', () => {
  const [validator, injector, configMap] = parseObjects(generated, 'test').map(
    withoutIstiodManagedFields,
  );
  const v = (validator as unknown as { webhooks: Record<string, unknown>[] }).webhooks[0] as Record<
    string,
    unknown
  >;
  assert.equal('failurePolicy' in v, false, 'istiod flips the validator to Fail itself');
  assert.deepEqual(v.clientConfig, {
    service: { name: 'istiod', namespace: 'istio-system', path: '/validate' },
  });
  const [inject, pinned] = (injector as unknown as { webhooks: Record<string, unknown>[] })
    .webhooks;
  assert.equal(inject?.failurePolicy, 'Fail', 'a mutating webhook keeps its policy');
  assert.equal('caBundle' in (inject?.clientConfig as object), false);
  assert.equal(
    (pinned?.clientConfig as { caBundle: string }).caBundle,
    'Q0EK',
    'a real CA bundle is kept',
  );
  assert.deepEqual(configMap, parseObjects(generated, 'test')[2], 'other objects are untouched');
});

test('multi-document YAML: empty documents and List wrappers', () => {
  const objects = parseObjects(
    '---\n---\napiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Namespace\n    metadata: { name: a }\n---\n# only a comment\n',
    'x',
  );
  assert.deepEqual(
    objects.map((o) => o.metadata.name),
    ['a'],
  );
  assert.throws(() => parseObjects('a: [', 'release manifest'), /release manifest: invalid YAML/);
});
