import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/inputs.ts';
import { InputError } from '../src/input-error.ts';

const from =
  (values: Record<string, string>) =>
  (name: string): string =>
    values[name] ?? '';

const rejects = (values: Record<string, string>, input: string, fix: RegExp): void => {
  assert.throws(
    () => parseInputs(from(values), { RUNNER_TEMP: '/tmp/rt' }),
    (error: unknown) => {
      assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
      assert.equal(error.input, input);
      assert.match(error.message, new RegExp(`^Input '${input}'`));
      assert.match(error.message, fix);
      return true;
    },
  );
};

test('defaults reproduce the seed', () => {
  const { config, verifyChecks } = parseInputs(from({}), { RUNNER_TEMP: '/tmp/rt' });
  assert.deepEqual(config.phases, ['cert-manager', 'spire', 'istio', 'examples', 'verify']);
  assert.deepEqual(
    config.clusters.map((c) => [c.context, c.name, c.trustDomain, c.network]),
    [
      ['cluster-1', 'cluster-1', 'foo.com', 'network1'],
      ['cluster-2', 'cluster-2', 'bar.com', 'network2'],
    ],
  );
  assert.deepEqual(config.versions, { istio: '1.22.1', spire: '1.5.1', certManager: 'v1.15.1' });
  assert.equal(config.serviceType, 'LoadBalancer');
  assert.equal(config.timeoutMs, 600_000);
  assert.equal(config.requests, 20);
  assert.deepEqual(config.rotation, { duration: '720h', renewBefore: '360h' });
  assert.equal(config.manifestsDir, '/tmp/rt/mesh-federation/manifests');
  assert.equal(config.istioctlBaseUrl, 'https://github.com/istio/istio/releases/download');
  assert.equal(verifyChecks.length, 6);
});

test('a comma list of phases runs in canonical order, without duplicates', () => {
  const { config } = parseInputs(from({ phase: 'verify, cert-manager,plan,verify' }));
  assert.deepEqual(config.phases, ['plan', 'cert-manager', 'verify']);
  assert.deepEqual(parseInputs(from({ phase: 'cleanup' })).config.phases, ['cleanup']);
});

test('normalises versions, service type case and base URLs', () => {
  const { config } = parseInputs(
    from({
      'istio-version': 'v1.27.3',
      'cert-manager-version': '1.16.0',
      'service-type': 'nodeport',
      'istioctl-base-url': 'http://127.0.0.1:8080/istio///',
    }),
  );
  assert.equal(config.versions.istio, '1.27.3');
  assert.equal(config.versions.certManager, 'v1.16.0');
  assert.equal(config.serviceType, 'NodePort');
  assert.equal(config.istioctlBaseUrl, 'http://127.0.0.1:8080/istio');
});

test('each bad input is named with its fix', () => {
  rejects({ phase: 'deploy' }, 'phase', /'deploy' is not a phase.*all/);
  rejects({ contexts: 'only-one' }, 'contexts', /at least two/);
  rejects({ contexts: 'a,a' }, 'contexts', /twice/);
  rejects({ 'trust-domains': 'foo.com' }, 'trust-domains', /1 trust domain for 2 clusters/);
  rejects({ 'trust-domains': 'foo.com,foo.com' }, 'trust-domains', /twice/);
  rejects(
    { 'trust-domains': 'spiffe://foo.com,bar.com' },
    'trust-domains',
    /not a SPIFFE trust domain/,
  );
  rejects({ 'trust-domains': 'Foo.com,bar.com' }, 'trust-domains', /lowercase/);
  rejects({ 'service-type': 'ClusterIP' }, 'service-type', /LoadBalancer' or 'NodePort/);
  rejects({ 'istio-version': 'latest' }, 'istio-version', /not a version.*1\.22\.1/);
  rejects({ 'istio-version': '1.14.6' }, 'istio-version', /too old/);
  rejects({ 'spire-version': '1.13.3' }, 'spire-version', /k8s-workload-registrar.*1\.5/);
  rejects({ 'cert-manager-version': 'one' }, 'cert-manager-version', /v1\.15\.1/);
  rejects({ timeout: '10 minutes' }, 'timeout', /90s/);
  rejects({ timeout: '0s' }, 'timeout', /out of range/);
  rejects({ requests: '-3' }, 'requests', /whole number/);
  rejects({ requests: '5000' }, 'requests', /out of range/);
  rejects({ 'istioctl-base-url': 'ftp://mirror/istio' }, 'istioctl-base-url', /http\(s\)/);
  rejects({ 'cert-manager-base-url': 'not a url' }, 'cert-manager-base-url', /absolute/);
  rejects(
    { 'istioctl-base-url': 'https://user:pw@mirror/istio' },
    'istioctl-base-url',
    /credentials/,
  );
  rejects(
    { 'rotation-renew-before': '800h' },
    'rotation-renew-before',
    /shorter than rotation-duration/,
  );
  rejects({ 'verify-checks': 'readiness,vibes' }, 'verify-checks', /'vibes' is not a check/);
  rejects({ networks: 'Net_1,net2' }, 'networks', /DNS label/);
  rejects({ 'api-servers': 'https://a:6443' }, 'api-servers', /one per cluster/);
  rejects({ 'spire-image-registry': 'ghcr.io/ spiffe' }, 'spire-image-registry', /prefix/);
  rejects(
    { 'spire-registrar-image': 'mirror.example/registrar' },
    'spire-registrar-image',
    /full image reference/,
  );
});

test('a registrar image override is taken as given', () => {
  const image = 'mirror.example/spiffe/k8s-workload-registrar:1.5.1';
  assert.equal(
    parseInputs(from({ 'spire-registrar-image': image })).config.images.spireRegistrar,
    image,
  );
  assert.equal(parseInputs(from({})).config.images.spireRegistrar, '');
});

test('an error message never carries a stack trace', () => {
  try {
    parseInputs(from({ phase: 'nope' }));
    assert.fail('expected an error');
  } catch (error) {
    assert.doesNotMatch((error as Error).message, /\n\s+at /);
  }
});

test('cert-manager-mode and spire-storage-class: defaults, accepted values, rejections', () => {
  const parse = (values: Record<string, string>) =>
    parseInputs(from(values), { RUNNER_TEMP: '/tmp/rt' }).config;
  assert.equal(parse({}).certManagerMode, 'auto');
  assert.equal(parse({ 'cert-manager-mode': 'install' }).certManagerMode, 'install');
  assert.equal(parse({ 'cert-manager-mode': ' Existing ' }).certManagerMode, 'existing');
  rejects({ 'cert-manager-mode': 'skip' }, 'cert-manager-mode', /'auto'.*'install' or 'existing'/);
  assert.equal(parse({}).spireStorageClass, '');
  assert.equal(parse({ 'spire-storage-class': ' gp3 ' }).spireStorageClass, 'gp3');
  assert.equal(parse({ 'spire-storage-class': 'none' }).spireStorageClass, 'none');
  rejects(
    { 'spire-storage-class': 'GP3' },
    'spire-storage-class',
    /not a StorageClass name.*empty for the cluster's default.*'none'/,
  );
});
