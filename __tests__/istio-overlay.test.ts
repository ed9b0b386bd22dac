// Input `istio-overlay`: parsed and refused before anything is touched, merged
// into the control plane only, and shown in the summary and `result`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/config/inputs.ts';
import { InputError } from '../src/config/input-error.ts';
import { mergePatch } from '../src/render/istio-overlay.ts';
import { EASTWEST_OPERATOR, renderIstioOperators } from '../src/render/istio.ts';
import { buildResult, renderSummary } from '../src/report/summary.ts';
import type { ClusterConfig } from '../src/config/config.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';

const HEADER = 'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\n';

const parse = (overlay: string) =>
  parseInputs((name) => ({ phase: 'plan', 'istio-overlay': overlay })[name] ?? '', {
    RUNNER_TEMP: '/tmp/rt',
  });

function refused(overlay: string, fix: RegExp): void {
  assert.throws(
    () => parse(overlay),
    (error: unknown) => {
      assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
      assert.equal(error.input, 'istio-overlay');
      assert.match(error.message, /^Input 'istio-overlay'/);
      assert.match(error.message, fix);
      return true;
    },
  );
}

const ENV_OVERLAY = `${HEADER}spec:
  values:
    pilot:
      env:
        PILOT_ENABLE_ALPN_FILTER: "false"
    telemetry:
      enabled: false
  meshConfig:
    accessLogFile: /dev/stdout
`;

test('no overlay: nothing is merged and nothing is shown', () => {
  const config = parse('  \n');
  assert.equal(config.istioOverlay, null);
  assert.equal(buildResult(config, []).istioOverlay, undefined);
  assert.doesNotMatch(renderSummary(config, []), /Istio overlay/);
});

test('an overlay that is not one IstioOperator with a spec is refused, saying what to write', () => {
  refused('spec: [unclosed', /not valid YAML.*IstioOperator/);
  refused(`${HEADER}spec: {a: 1}\n---\n${HEADER}spec: {b: 2}\n`, /one YAML document/);
  refused('apiVersion: v1\nkind: ConfigMap\nspec: {a: 1}\n', /must be an IstioOperator/);
  refused(`apiVersion: install.istio.io/v1\nkind: IstioOperator\nspec: {a: 1}\n`, /v1alpha1/);
  refused(`${HEADER}metadata: {name: mine}\nspec: {a: 1}\n`, /'metadata'; only 'spec' is merged/);
  refused(HEADER, /no 'spec'/);
  refused(`${HEADER}spec: {}\n`, /no 'spec'/);
});

test('an overlay that sets a field the federation depends on names the input that sets it', () => {
  refused(`${HEADER}spec:\n  hub: my.registry/istio\n`, /'spec\.hub' is set by input 'istio-hub'/);
  refused(
    `${HEADER}spec:\n  meshConfig:\n    trustDomain: evil.org\n`,
    /'spec\.meshConfig\.trustDomain' is set by input 'trust-domains'/,
  );
  refused(
    `${HEADER}spec:\n  values:\n    global:\n      meshID: other\n      network: n9\n`,
    /'spec\.values\.global\.meshID' is set by input 'mesh-id'; 'spec\.values\.global\.network' is set by input 'networks'/,
  );
  refused(
    `${HEADER}spec:\n  values:\n    sidecarInjectorWebhook:\n      templates:\n        spire: "{}"\n`,
    /templates\.spire' is set by the action/,
  );
  refused(
    `${HEADER}spec:\n  components:\n    ingressGateways: []\n`,
    /'spec\.components\.ingressGateways' is set by the action/,
  );
  // Replacing or deleting a map on the way to an owned field changes it too.
  refused(
    `${HEADER}spec:\n  values:\n    global: null\n`,
    /'spec\.values\.global' is set by input 'mesh-id'/,
  );
  refused(
    `${HEADER}spec:\n  meshConfig: []\n`,
    /'spec\.meshConfig' is set by input 'trust-domains'/,
  );
  // Neighbours of owned fields are the user's.
  const config = parse(
    `${HEADER}spec:\n  values:\n    global:\n      logging: {level: "default:debug"}\n`,
  );
  assert.deepEqual(config.istioOverlay, {
    values: { global: { logging: { level: 'default:debug' } } },
  });
});

test('merge patch follows RFC 7386: maps merge, anything else replaces, null removes', () => {
  // Cases from RFC 7386, appendix A.
  assert.deepEqual(mergePatch({ a: 'b' }, { a: 'c' }), { a: 'c' });
  assert.deepEqual(mergePatch({ a: 'b' }, { b: 'c' }), { a: 'b', b: 'c' });
  assert.deepEqual(mergePatch({ a: 'b' }, { a: null }), {});
  assert.deepEqual(mergePatch({ a: 'b', b: 'c' }, { a: null }), { b: 'c' });
  assert.deepEqual(mergePatch({ a: ['b'] }, { a: 'c' }), { a: 'c' });
  assert.deepEqual(mergePatch({ a: 'c' }, { a: ['b'] }), { a: ['b'] });
  assert.deepEqual(mergePatch({ a: { b: 'c' } }, { a: { b: 'd', c: null } }), { a: { b: 'd' } });
  assert.deepEqual(mergePatch({ a: [{ b: 'c' }] }, { a: [1] }), { a: [1] });
  assert.deepEqual(mergePatch(['a', 'b'], ['c', 'd']), ['c', 'd']);
  assert.deepEqual(mergePatch({ a: 'b' }, ['c']), ['c']);
  assert.deepEqual(mergePatch({ e: null }, { a: 1 }), { e: null, a: 1 });
  assert.deepEqual(mergePatch([1, 2], { a: 'b', c: null }), { a: 'b' });
  assert.deepEqual(mergePatch({}, { a: { bb: { ccc: null } } }), { a: { bb: {} } });
});

test('the overlay reaches every control plane, keeps what the action sets, and leaves east-west alone', () => {
  const plain = parse('');
  const config = parse(ENV_OVERLAY);
  for (const [index, cluster] of config.clusters.entries()) {
    const operators = renderIstioOperators(config, cluster as ClusterConfig);
    const before = renderIstioOperators(plain, plain.clusters[index] as ClusterConfig);
    const controlPlane = operators.find((o) => o.metadata.name !== EASTWEST_OPERATOR) as K8sObject;
    const spec = controlPlane.spec as {
      meshConfig: Record<string, unknown>;
      values: {
        pilot: { env: Record<string, string> };
        telemetry: unknown;
        global: { meshID: string };
      };
    };
    assert.equal(spec.values.pilot.env.PILOT_ENABLE_ALPN_FILTER, 'false');
    assert.deepEqual(spec.values.telemetry, { enabled: false });
    assert.equal(spec.meshConfig.accessLogFile, '/dev/stdout');
    // The action's fields are still there, next to the user's.
    assert.equal(spec.meshConfig.trustDomain, cluster?.trustDomain);
    assert.equal(spec.values.global.meshID, 'mesh1');
    const beforeEnv = (
      (before.find((o) => o.metadata.name !== EASTWEST_OPERATOR) as K8sObject).spec as {
        values: { pilot: { env: Record<string, string> } };
      }
    ).values.pilot.env;
    for (const [k, v] of Object.entries(beforeEnv)) assert.equal(spec.values.pilot.env[k], v, k);
    assert.deepEqual(
      operators.find((o) => o.metadata.name === EASTWEST_OPERATOR),
      before.find((o) => o.metadata.name === EASTWEST_OPERATOR),
    );
  }
});

test('the summary and the result output show the overlay that was merged', () => {
  const config = parse(ENV_OVERLAY);
  assert.deepEqual(buildResult(config, []).istioOverlay, config.istioOverlay);
  const summary = renderSummary(config, []);
  assert.match(summary, /\*\*Istio overlay\*\*/);
  assert.match(
    summary,
    /```yaml\nspec:\n {2}values:\n {4}pilot:\n {6}env:\n {8}PILOT_ENABLE_ALPN_FILTER: "false"/,
  );
});
