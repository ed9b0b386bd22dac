import { PROFILE_TABLE } from '../src/config/profiles.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInputs } from '../src/config/inputs.ts';
import { InputError } from '../src/config/input-error.ts';

/** Inputs as given; without a phase, `plan`, which needs no kubeconfig. */
const from =
  (values: Record<string, string>) =>
  (name: string): string =>
    values[name] ?? (name === 'phase' ? 'plan' : '');

/** Two contexts, cluster-1 and cluster-2, with a placeholder token each. */
const KUBECONFIG = [
  'apiVersion: v1',
  'kind: Config',
  'clusters:',
  ...['1', '2'].map((n) => `- {name: c${n}, cluster: {server: 'https://10.0.0.${n}:6443'}}`),
  'users:',
  ...['1', '2'].map((n) => `- {name: u${n}, user: {token: token-${n}-abcdefgh}}`),
  'contexts:',
  ...['1', '2'].map((n) => `- {name: cluster-${n}, context: {cluster: c${n}, user: u${n}}}`),
].join('\n');

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
  const config = parseInputs(from({ phase: 'plan' }), { RUNNER_TEMP: '/tmp/rt' });
  assert.deepEqual(parseInputs(from({ phase: '', kubeconfig: KUBECONFIG })).phases, [
    'cert-manager',
    'spire',
    'istio',
    'examples',
    'verify',
  ]);
  assert.deepEqual(
    config.clusters.map((c) => [c.context, c.name, c.trustDomain, c.network]),
    [
      ['cluster-1', 'cluster-1', 'foo.com', 'network1'],
      ['cluster-2', 'cluster-2', 'bar.com', 'network2'],
    ],
  );
  assert.equal(config.profile, 'seed');
  assert.equal(config.registration, 'k8s-workload-registrar');
  assert.deepEqual(config.versions, {
    istio: '1.22.1',
    spire: '1.5.1',
    certManager: 'v1.15.1',
    spireControllerManager: '',
    spiffeCsiDriver: '0.2.3',
    nodeDriverRegistrar: 'v2.8.0',
  });
  assert.equal(config.serviceType, 'LoadBalancer');
  assert.equal(config.timeoutMs, 600_000);
  assert.equal(config.requests, 20);
  assert.deepEqual(config.rotation, { duration: '720h', renewBefore: '360h' });
  assert.equal(config.manifestsDir, '/tmp/rt/mesh-federation/manifests');
  assert.equal(config.istioctlBaseUrl, 'https://github.com/istio/istio/releases/download');
  assert.equal(config.verifyChecks.length, 6);
});

test('profile current takes its pins and the SPIRE Controller Manager; a version input overrides one pin', () => {
  const config = parseInputs(
    from({ profile: 'current', 'istio-version': '1.32.0-alpha.eed52ebb66ad' }),
  );
  assert.equal(config.profile, 'current');
  assert.equal(config.registration, 'spire-controller-manager');
  assert.deepEqual(config.versions, {
    ...PROFILE_TABLE.current.pins,
    istio: '1.32.0-alpha.eed52ebb66ad',
  });
  assert.equal(
    parseInputs(from({ profile: 'current', 'spiffe-csi-driver-version': 'v0.2.6' })).versions
      .spiffeCsiDriver,
    '0.2.6',
  );
});

test('a profile and versions that cannot work together are refused, naming the input', () => {
  rejects({ profile: 'latest' }, 'profile', /'seed', 'current'|seed, current/);
  rejects(
    { 'spire-version': '1.13.3' },
    'spire-version',
    /k8s-workload-registrar.*profile: current/,
  );
  rejects(
    { profile: 'current', 'spire-version': '1.5.1' },
    'spire-version',
    /SPIRE Controller Manager.*profile: seed/,
  );
  rejects({ profile: 'current', 'istio-version': '1.13.9' }, 'istio-version', /too old/);
  rejects(
    {
      profile: 'current',
      'spire-registrar-image': 'mirror.example/spiffe/k8s-workload-registrar:1.5.1',
    },
    'spire-registrar-image',
    /profile 'current' registers workloads with the spire-controller-manager/,
  );
  rejects(
    { 'spire-controller-manager-version': '0.7.0' },
    'spire-controller-manager-version',
    /profile 'seed' registers workloads with the k8s-workload-registrar/,
  );
});

test('a comma list of phases runs in canonical order, without duplicates', () => {
  const config = parseInputs(
    from({ phase: 'verify, cert-manager,plan,verify', kubeconfig: KUBECONFIG }),
  );
  assert.deepEqual(config.phases, ['plan', 'cert-manager', 'verify']);
  assert.deepEqual(parseInputs(from({ phase: 'cleanup', kubeconfig: KUBECONFIG })).phases, [
    'cleanup',
  ]);
});

test('normalises versions, service type case and base URLs', () => {
  const config = parseInputs(
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

test('a node-driver-registrar image is taken as given, and must be a full reference', () => {
  const image = 'mirror.example/sig-storage/csi-node-driver-registrar:v2.8.0';
  const images = (raw: Record<string, string>) => parseInputs(from(raw)).images;
  assert.equal(images({ 'csi-node-driver-registrar-image': image }).nodeDriverRegistrar, image);
  assert.equal(images({}).nodeDriverRegistrar, '');
  assert.throws(
    () => images({ 'csi-node-driver-registrar-image': 'mirror.example/registrar' }),
    /csi-node-driver-registrar-image.*full image reference/s,
  );
});

test('a registrar image override is taken as given', () => {
  const image = 'mirror.example/spiffe/k8s-workload-registrar:1.5.1';
  assert.equal(parseInputs(from({ 'spire-registrar-image': image })).images.spireRegistrar, image);
  assert.equal(parseInputs(from({})).images.spireRegistrar, '');
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
    parseInputs(from(values), { RUNNER_TEMP: '/tmp/rt' });
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

test('every credential reaches the mask before any other input is judged; plan never judges a kubeconfig', () => {
  const masked: string[] = [];
  assert.throws(
    () =>
      parseInputs(
        from({ phase: 'spire', kubeconfig: KUBECONFIG, 'trust-domains': 'a.com' }),
        { RUNNER_TEMP: '/tmp/rt' },
        (secret) => masked.push(secret),
      ),
    /Input 'trust-domains'/,
  );
  assert.ok(masked.includes('token-1-abcdefgh') && masked.includes('token-2-abcdefgh'));
  const plan = parseInputs(from({ phase: 'plan', kubeconfig: 'not a kubeconfig at all' }));
  assert.equal(plan.credentials, null);
  rejects({ phase: 'spire', kubeconfig: 'not a kubeconfig at all' }, 'kubeconfig', /base64/);
});

test('the clusters are the per-cluster kubeconfigs given, up to five, and a kubeconfig past the contexts is named', () => {
  const one = (n: number): string =>
    KUBECONFIG.replaceAll('cluster-1', `ctx-${n}`).replace(/current-context.*/, '');
  const config = parseInputs(
    from({
      phase: 'verify',
      'kubeconfig-1': one(1),
      'kubeconfig-2': one(2),
      'kubeconfig-3': one(3),
      'trust-domains': 'a.com,b.com,c.com',
    }),
  );
  assert.deepEqual(
    config.clusters.map((c) => c.context),
    ['ctx-1', 'ctx-2', 'ctx-3'],
  );
  assert.equal(config.credentials?.servers.length, 3);
  rejects(
    {
      phase: 'verify',
      contexts: 'ctx-1,ctx-2',
      'kubeconfig-1': one(1),
      'kubeconfig-2': one(2),
      'kubeconfig-3': one(3),
    },
    'kubeconfig-3',
    /'contexts' names 2 clusters/,
  );
  rejects(
    { phase: 'plan', contexts: 'a,b,c,d,e,f', 'trust-domains': 'a,b,c,d,e,f' },
    'contexts',
    /at most 5 clusters/,
  );
});

test('per-cluster kubeconfigs without contexts: each file’s current-context names its cluster, unless two share one', () => {
  const file = (context: string): string =>
    KUBECONFIG.replaceAll('cluster-1', context).replace(
      'contexts:',
      `current-context: ${context}\ncontexts:`,
    );
  const own = parseInputs(
    from({
      phase: 'verify',
      'kubeconfig-1': file('kind-east'),
      'kubeconfig-2': file('arn:aws:eks:x'),
    }),
  );
  assert.deepEqual(
    own.clusters.map((c) => [c.context, c.name]),
    [
      ['kind-east', 'kind-east'],
      ['arn:aws:eks:x', 'cluster-2'],
    ],
  );
  const shared = parseInputs(
    from({ phase: 'verify', 'kubeconfig-1': file('kind-mesh'), 'kubeconfig-2': file('kind-mesh') }),
  );
  assert.deepEqual(
    shared.clusters.map((c) => c.context),
    ['cluster-1', 'cluster-2'],
  );
});
