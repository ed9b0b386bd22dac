import { PROFILE_TABLE, type ProfileName } from '../src/config/profiles.ts';
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import {
  INSTALL_PHASES,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  PHASE_LABEL,
  type ClusterConfig,
  type Config,
  type ServiceType,
} from '../src/config/config.ts';
import type { K8sObject } from '../src/model/k8s-object.ts';
import {
  CACERTS,
  CERT_MANAGER_NAMESPACE,
  EXAMPLES,
  ROOT_CA_CERTIFICATE,
  ROOT_CA_SECRET,
  SPIRE_NAMESPACE,
  SPIRE_SERVER,
} from '../src/model/names.ts';
import {
  labelObject,
  renderCacertsCertificate,
  renderIngress,
  renderPhase,
  renderPlan,
  toYaml,
  type RenderFacts,
  type RenderedPhase,
} from '../src/render/index.ts';
import { isClusterScoped } from '../src/model/kinds.ts';
import { parseHcl } from './helpers/hcl-parse.ts';

// ---- inputs ---------------------------------------------------------------

const TRUST_DOMAINS = ['foo.com', 'bar.com', 'baz.org'];

function makeConfig(
  options: {
    clusters?: number;
    serviceType?: ServiceType;
    istio?: string;
    spireRegistry?: string;
    istioOverlay?: Config['istioOverlay'];
    profile?: ProfileName;
  } = {},
): Config {
  const clusters: ClusterConfig[] = Array.from({ length: options.clusters ?? 2 }, (_, index) => ({
    index,
    context: `kind-c${index + 1}`,
    name: `cluster-${index + 1}`,
    trustDomain: TRUST_DOMAINS[index] as string,
    network: `network${index + 1}`,
    apiServer: '',
  }));
  return {
    phases: ['plan'],
    clusters,
    credentials: null,
    verifyChecks: [],
    serviceType: options.serviceType ?? 'LoadBalancer',
    certManagerMode: 'auto',
    spireStorageClass: '',
    meshId: 'mesh1',
    profile: options.profile ?? 'seed',
    registration: PROFILE_TABLE[options.profile ?? 'seed'].registration,
    versions: {
      ...PROFILE_TABLE[options.profile ?? 'seed'].pins,
      ...(options.istio ? { istio: options.istio } : {}),
    },
    istioctlBaseUrl: 'https://github.com/istio/istio/releases/download',
    certManagerBaseUrl: 'https://github.com/cert-manager/cert-manager/releases/download',
    spireCrdsBaseUrl: 'https://raw.githubusercontent.com/spiffe/spire-controller-manager',
    images: {
      spireRegistry: options.spireRegistry ?? 'ghcr.io/spiffe',
      spireRegistrar: '',
      nodeDriverRegistrar: '',
      istioHub: 'docker.io/istio',
      examplesRegistry: 'docker.io/istio',
    },
    istioOverlay: options.istioOverlay ?? null,
    timeoutMs: 600_000,
    requests: 10,
    rotation: { duration: '720h', renewBefore: '360h' },
    manifestsDir: '/tmp/manifests',
    run: { id: 'test', description: 'a test' },
    diagnostics: 'on-failure',
    diagnosticsDir: '/tmp/diagnostics',
  };
}

const FACTS: RenderFacts = {
  bundleEndpoints: {
    'foo.com': 'https://203.0.113.7:8443',
    'bar.com': 'https://198.51.100.9:31443',
  },
};

// ---- lookups --------------------------------------------------------------

function cluster(config: Config, index: number): ClusterConfig {
  return config.clusters[index] as ClusterConfig;
}

function find(objects: K8sObject[], kind: string, name: string, namespace?: string): K8sObject {
  const found = objects.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (namespace === undefined || o.metadata.namespace === namespace),
  );
  assert.ok(found, `${kind} ${namespace ?? ''}/${name} is rendered`);
  return found;
}

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function configMapText(objects: K8sObject[], name: string, key: string): string {
  const text = (find(objects, 'ConfigMap', name, SPIRE_NAMESPACE) as Any).data?.[key];
  assert.equal(typeof text, 'string', `ConfigMap ${name} has ${key}`);
  return text as string;
}

function spireConfigs(config: Config, index: number, facts?: RenderFacts) {
  const objects = renderPhase(config, 'spire', cluster(config, index), facts).objects;
  return {
    objects,
    server: parseHcl(configMapText(objects, 'spire-server', 'server.conf')) as Any,
    agent: parseHcl(configMapText(objects, 'spire-agent', 'agent.conf')) as Any,
    registrar: parseHcl(configMapText(objects, 'k8s-workload-registrar', 'registrar.conf')) as Any,
  };
}

function podSpec(o: K8sObject): Any {
  return (o as Any).spec.template.spec;
}

function container(o: K8sObject, name: string): Any {
  const found = podSpec(o).containers.find((c: Any) => c.name === name);
  assert.ok(found, `${o.kind} ${o.metadata.name} has container ${name}`);
  return found;
}

/** The path at which `container` mounts the pod volume `volume`. */
function mountPath(o: K8sObject, containerName: string, volume: string): string {
  const mount = container(o, containerName).volumeMounts?.find((m: Any) => m.name === volume);
  assert.ok(mount, `${containerName} mounts ${volume}`);
  return mount.mountPath as string;
}

function volume(o: K8sObject, name: string): Any {
  const found = podSpec(o).volumes.find((v: Any) => v.name === name);
  assert.ok(found, `${o.metadata.name} has volume ${name}`);
  return found;
}

const workloads = (objects: K8sObject[]) =>
  objects.filter((o) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(o.kind));

// ---- every phase ----------------------------------------------------------

describe('renderPlan', () => {
  for (const serviceType of ['LoadBalancer', 'NodePort'] as const) {
    describe(`with service-type ${serviceType}`, () => {
      const config = makeConfig({ serviceType });
      const plan = renderPlan(config, FACTS);

      it('renders every install phase for every cluster, phases first', () => {
        assert.deepEqual(
          plan.map((p) => `${p.phase}@${p.cluster.name}`),
          INSTALL_PHASES.flatMap((phase) => [`${phase}@cluster-1`, `${phase}@cluster-2`]),
        );
        for (const rendered of plan) assert.ok(rendered.objects.length > 0);
      });

      it('labels every object with the action and its phase', () => {
        for (const { phase, objects } of plan) {
          for (const o of objects) {
            assert.equal(
              o.metadata.labels?.[MANAGED_BY_LABEL],
              MANAGED_BY_VALUE,
              `${o.kind}/${o.metadata.name}`,
            );
            // istio-system belongs to the cert-manager phase, which creates it first.
            const owner =
              o.kind === 'Namespace' && o.metadata.name === 'istio-system' ? 'cert-manager' : phase;
            assert.equal(o.metadata.labels?.[PHASE_LABEL], owner, `${o.kind}/${o.metadata.name}`);
          }
        }
      });

      it('gives every namespaced object a namespace, and no cluster-scoped one', () => {
        for (const { objects } of plan) {
          for (const o of objects) {
            const ref = `${o.kind}/${o.metadata.name}`;
            if (isClusterScoped(o.kind)) assert.equal(o.metadata.namespace, undefined, ref);
            else assert.ok(o.metadata.namespace, `${ref} has a namespace`);
          }
        }
      });

      it('leaves no placeholder anywhere', () => {
        for (const { objects, istioOperators } of plan) {
          const text = toYaml([...objects, ...istioOperators]);
          assert.doesNotMatch(text, /\{\{|\}\}/);
        }
      });

      it('never renders the same object twice in one phase and cluster', () => {
        for (const { objects } of plan) {
          const refs = objects.map(
            (o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`,
          );
          assert.equal(new Set(refs).size, refs.length, refs.join(', '));
        }
      });

      it('gives every container a tagged image from the configured registries', () => {
        for (const { objects } of plan) {
          for (const w of workloads(objects)) {
            for (const c of [...podSpec(w).containers, ...(podSpec(w).initContainers ?? [])]) {
              assert.match(c.image, /^[a-z0-9.-]+(\/[a-z0-9._-]+)+:[A-Za-z0-9._-]+$/, c.image);
            }
          }
        }
      });

      it('exposes only the bundle endpoint with the service type; the server API stays in-cluster (issue 7 item 10)', () => {
        for (const index of [0, 1]) {
          const { objects } = spireConfigs(config, index, FACTS);
          const exposed = find(
            objects,
            'Service',
            SPIRE_SERVER.bundleService,
            SPIRE_NAMESPACE,
          ) as Any;
          assert.equal(exposed.spec.type, serviceType);
          assert.deepEqual(
            exposed.spec.ports.map((p: Any) => [p.name, p.port, p.targetPort]),
            [['federation', SPIRE_SERVER.bundlePort, SPIRE_SERVER.bundlePort]],
          );
          const api = find(objects, 'Service', SPIRE_SERVER.service, SPIRE_NAMESPACE) as Any;
          assert.equal(api.spec.type, 'ClusterIP');
          assert.deepEqual(
            api.spec.ports.map((p: Any) => [p.name, p.port, p.targetPort]),
            [['grpc', 8081, 8081]],
          );
          for (const service of objects.filter((o) => o.kind === 'Service') as Any[])
            if (service.spec.type !== 'ClusterIP')
              assert.ok(
                service.spec.ports.every((p: Any) => p.port !== 8081),
                `${service.metadata.name} publishes the SPIRE server API`,
              );
        }
      });

      it('gives both gateways the service type', () => {
        for (const rendered of plan.filter((p) => p.phase === 'istio')) {
          for (const iop of rendered.istioOperators) {
            assert.equal(
              (iop as Any).spec.values.gateways['istio-ingressgateway'].type,
              serviceType,
            );
          }
        }
      });

      it('round-trips through toYaml', () => {
        for (const { objects, istioOperators } of plan) {
          const all = [...objects, ...istioOperators];
          const docs = YAML.parseAllDocuments(toYaml(all));
          for (const doc of docs) assert.deepEqual(doc.errors, []);
          assert.deepEqual(
            docs.map((d) => d.toJS()),
            all,
          );
        }
      });
    });
  }
});

// ---- cert-manager ---------------------------------------------------------

describe('cert-manager phase', () => {
  const config = makeConfig();
  const objects = renderPhase(config, 'cert-manager', cluster(config, 0)).objects;

  it('chains a self-signed root, a CA issuer on its secret, and istiod cacerts under it', () => {
    const root = find(objects, 'Certificate', ROOT_CA_CERTIFICATE, CERT_MANAGER_NAMESPACE) as Any;
    assert.equal(root.spec.isCA, true);
    assert.equal(root.spec.secretName, ROOT_CA_SECRET);
    const selfSigned = find(objects, 'ClusterIssuer', root.spec.issuerRef.name) as Any;
    assert.deepEqual(selfSigned.spec, { selfSigned: {} });
    assert.equal(root.spec.issuerRef.kind, 'ClusterIssuer');

    const cacerts = find(objects, 'Certificate', CACERTS.name, CACERTS.namespace) as Any;
    assert.equal(cacerts.spec.isCA, true);
    assert.equal(cacerts.spec.secretName, CACERTS.name);
    assert.equal(cacerts.spec.duration, '1440h');
    assert.equal(cacerts.spec.renewBefore, '360h');
    assert.ok(cacerts.spec.usages.includes('cert sign'));
    const caIssuer = find(objects, 'ClusterIssuer', cacerts.spec.issuerRef.name) as Any;
    assert.equal(caIssuer.spec.ca.secretName, ROOT_CA_SECRET);
  });

  it('creates istio-system exactly as the istio phase does, network and phase labels included', () => {
    const fromCertManager = find(objects, 'Namespace', 'istio-system');
    const fromIstio = find(
      renderPhase(config, 'istio', cluster(config, 0)).objects,
      'Namespace',
      'istio-system',
    );
    assert.equal(fromCertManager.metadata.labels?.['topology.istio.io/network'], 'network1');
    // Identical objects: one field manager applying two versions would flip-flop on every run.
    assert.deepEqual(fromCertManager, fromIstio);
  });

  it('renders cacerts with the rotation lifetime for the rotate phase', () => {
    const cert = renderCacertsCertificate(cluster(config, 1), '720h', '240h') as Any;
    assert.equal(cert.spec.duration, '720h');
    assert.equal(cert.spec.renewBefore, '240h');
    assert.deepEqual(cert.spec.subject.organizations, ['bar.com']);
    assert.equal(cert.metadata.labels[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
  });

  it('does not render the cert-manager release itself', () => {
    assert.ok(
      !objects.some((o) => o.kind === 'Deployment' || o.kind === 'CustomResourceDefinition'),
    );
  });
});

// ---- spire ----------------------------------------------------------------

describe('spire phase', () => {
  const config = makeConfig();

  it('federates each trust domain with the other at the discovered bundle endpoint', () => {
    const pairs = [
      [0, 'bar.com', 'https://198.51.100.9:31443'],
      [1, 'foo.com', 'https://203.0.113.7:8443'],
    ] as const;
    for (const [index, other, url] of pairs) {
      const { server } = spireConfigs(config, index, FACTS);
      const own = cluster(config, index).trustDomain;
      assert.equal(server.server.trust_domain, own);
      assert.deepEqual(Object.keys(server.server.federation.federates_with), [other]);
      assert.deepEqual(server.server.federation.federates_with[other], {
        bundle_endpoint_url: url,
        bundle_endpoint_profile: {
          https_spiffe: { endpoint_spiffe_id: `spiffe://${other}/spire/server` },
        },
      });
      assert.deepEqual(server.server.federation.bundle_endpoint, {
        address: '0.0.0.0',
        port: SPIRE_SERVER.bundlePort,
      });
    }
  });

  it('shows a placeholder bundle URL when the endpoints are not known yet (plan)', () => {
    const { server } = spireConfigs(config, 0);
    assert.equal(
      server.server.federation.federates_with['bar.com'].bundle_endpoint_url,
      'https://<bundle endpoint of cluster-2>:8443',
    );
    const planText = toYaml(renderPlan(config).flatMap((p: RenderedPhase) => p.objects));
    assert.match(planText, /https:\/\/<bundle endpoint of cluster-1>:8443/);
  });

  it('federates with every other trust domain when there are more clusters', () => {
    const three = makeConfig({ clusters: 3 });
    const { server } = spireConfigs(three, 1);
    assert.deepEqual(Object.keys(server.server.federation.federates_with).sort(), [
      'baz.org',
      'foo.com',
    ]);
  });

  it('lets cert-manager sign SPIRE through the CA issuer the cert-manager phase creates', () => {
    const { server, objects } = spireConfigs(config, 0, FACTS);
    const upstream = server.plugins.UpstreamAuthority['cert-manager'].plugin_data;
    const certManager = renderPhase(config, 'cert-manager', cluster(config, 0)).objects;
    const issuer = find(certManager, upstream.issuer_kind, upstream.issuer_name) as Any;
    assert.equal(issuer.spec.ca.secretName, ROOT_CA_SECRET);
    assert.equal(upstream.issuer_group, 'cert-manager.io');
    assert.equal(upstream.namespace, SPIRE_NAMESPACE);
    const role = find(objects, 'ClusterRole', 'mesh-federation-spire-server') as Any;
    const rule = role.rules.find((r: Any) => r.resources.includes('certificaterequests'));
    assert.deepEqual(rule.apiGroups, ['cert-manager.io']);
    for (const verb of ['create', 'get', 'list', 'delete'])
      assert.ok(rule.verbs.includes(verb), verb);
  });

  it('configures the server plugins for this cluster', () => {
    const { server } = spireConfigs(config, 1, FACTS);
    assert.deepEqual(server.plugins.NodeAttestor.k8s_psat.plugin_data.clusters, {
      'cluster-2': { service_account_allow_list: ['spire:spire-agent'] },
    });
    assert.equal(server.plugins.DataStore.sql.plugin_data.database_type, 'sqlite3');
    assert.ok(
      server.plugins.KeyManager.disk.plugin_data.keys_path.startsWith(server.server.data_dir),
    );
    assert.deepEqual(server.plugins.Notifier.k8sbundle.plugin_data, {
      namespace: SPIRE_NAMESPACE,
      config_map: 'spire-bundle',
      config_map_key: 'bundle.crt',
    });
    assert.equal(server.server.socket_path, SPIRE_SERVER.socket);
  });

  it('runs the server and the reconcile-mode registrar on one socket volume', () => {
    const { objects, server, registrar } = spireConfigs(config, 1, FACTS);
    assert.deepEqual(registrar, {
      log_level: 'info',
      mode: 'reconcile',
      trust_domain: 'bar.com',
      server_socket_path: SPIRE_SERVER.socket,
      cluster: 'cluster-2',
      metrics_addr: '0',
      disabled_namespaces: [
        'kube-system',
        'kube-public',
        'kube-node-lease',
        'spire',
        'cert-manager',
      ],
    });
    const sts = find(objects, 'StatefulSet', SPIRE_SERVER.statefulSet, SPIRE_NAMESPACE) as Any;
    assert.deepEqual(
      podSpec(sts).containers.map((c: Any) => c.name),
      [SPIRE_SERVER.container, 'k8s-workload-registrar'],
    );
    const socketDir = posix.dirname(SPIRE_SERVER.socket);
    assert.equal(mountPath(sts, SPIRE_SERVER.container, 'spire-server-socket'), socketDir);
    assert.equal(mountPath(sts, 'k8s-workload-registrar', 'spire-server-socket'), socketDir);
    assert.equal(mountPath(sts, SPIRE_SERVER.container, 'spire-data'), server.server.data_dir);
    assert.equal(sts.spec.volumeClaimTemplates[0].metadata.name, 'spire-data');
    // SPIRE 1.10+ server images run as 1000:1000; the data volume must be theirs to write.
    assert.deepEqual(podSpec(sts).securityContext, {
      fsGroup: 1000,
      fsGroupChangePolicy: 'OnRootMismatch',
    });
    assert.equal(sts.spec.serviceName, SPIRE_SERVER.service);
    // The registrar's metrics default (:8080) must not take the server's health port.
    assert.equal(server.health_checks.bind_port, '8080');
    assert.deepEqual(container(sts, SPIRE_SERVER.container).args, [
      '-config',
      '/run/spire/config/server.conf',
    ]);
    assert.equal(mountPath(sts, SPIRE_SERVER.container, 'spire-config'), '/run/spire/config');
    assert.deepEqual(container(sts, 'k8s-workload-registrar').args, [
      '-config',
      `${mountPath(sts, 'k8s-workload-registrar', 'registration-config')}/registrar.conf`,
    ]);
    assert.equal(`${SPIRE_SERVER.statefulSet}-0`, SPIRE_SERVER.pod);
  });

  it('profile current: the SPIRE Controller Manager beside the server, its className on every CR it must read', () => {
    const current = makeConfig({ profile: 'current', clusters: 3 });
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'clusterspiffeids.spire.spiffe.io' },
    };
    const facts: RenderFacts = {
      ...FACTS,
      bundleEndpoints: {
        'foo.com': 'https://203.0.113.1:8443',
        'bar.com': 'https://203.0.113.2:8443',
        'baz.org': 'https://203.0.113.3:8443',
      },
      trustBundles: { 'foo.com': '{"keys":["foo"]}', 'baz.org': '{"keys":["baz"]}' },
      spireCrds: [crd],
    };
    const objects = renderPhase(current, 'spire', cluster(current, 1), facts).objects;
    const sts = find(objects, 'StatefulSet', SPIRE_SERVER.statefulSet, SPIRE_NAMESPACE) as Any;
    assert.deepEqual(
      podSpec(sts).containers.map((c: Any) => c.name),
      [SPIRE_SERVER.container, 'spire-controller-manager'],
    );
    const manager = container(sts, 'spire-controller-manager');
    assert.equal(manager.image, 'ghcr.io/spiffe/spire-controller-manager:0.7.0');
    assert.equal(
      container(sts, SPIRE_SERVER.container).image,
      'ghcr.io/spiffe/spire-server:1.15.3',
    );
    assert.equal(
      mountPath(sts, 'spire-controller-manager', 'spire-server-socket'),
      posix.dirname(SPIRE_SERVER.socket),
    );
    const confDir = mountPath(sts, 'spire-controller-manager', 'registration-config');
    assert.deepEqual(manager.args, [`--config=${confDir}/controller-manager.yaml`]);
    const conf = YAML.parse(
      configMapText(objects, 'spire-controller-manager', 'controller-manager.yaml'),
    ) as Any;
    assert.equal(conf.kind, 'ControllerManagerConfig');
    assert.equal(conf.trustDomain, 'bar.com');
    // The agents' k8s_psat cluster name: entries go under their agent IDs.
    assert.equal(conf.clusterName, 'cluster-2');
    assert.equal(conf.spireServerSocketPath, SPIRE_SERVER.socket);
    assert.equal(conf.leaderElection.leaderElect, false);
    assert.ok(conf.className);
    assert.equal(
      objects.some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'k8s-workload-registrar'),
      false,
    );
    const webhook = find(
      objects,
      'ValidatingWebhookConfiguration',
      conf.validatingWebhookConfigurationName,
    ) as Any;
    assert.equal(webhook.webhooks.length, 2);
    assert.ok(webhook.webhooks.every((w: Any) => w.clientConfig.caBundle === undefined));
    assert.ok(
      objects.some((o) => o.kind === crd.kind && o.metadata.name === crd.metadata.name),
      'the CRDs downloaded for its version are applied with it',
    );

    // Federation by CR: one per peer, with its endpoint, its server's ID and its bundle.
    const cftds = objects.filter((o) => o.kind === 'ClusterFederatedTrustDomain') as Any[];
    assert.deepEqual(
      cftds.map((c) => [
        c.spec.trustDomain,
        c.spec.bundleEndpointURL,
        c.spec.bundleEndpointProfile,
        c.spec.trustDomainBundle,
      ]),
      [
        [
          'foo.com',
          'https://203.0.113.1:8443',
          { type: 'https_spiffe', endpointSPIFFEID: 'spiffe://foo.com/spire/server' },
          '{"keys":["foo"]}',
        ],
        [
          'baz.org',
          'https://203.0.113.3:8443',
          { type: 'https_spiffe', endpointSPIFFEID: 'spiffe://baz.org/spire/server' },
          '{"keys":["baz"]}',
        ],
      ],
    );
    const ids = objects.filter((o) => o.kind === 'ClusterSPIFFEID') as Any[];
    assert.equal(ids.length, 1);
    assert.deepEqual(ids[0].spec.federatesWith, ['foo.com', 'baz.org']);
    assert.equal(
      ids[0].spec.spiffeIDTemplate,
      'spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}',
    );
    for (const cr of [...cftds, ...ids])
      assert.equal(cr.spec.className, conf.className, cr.metadata.name);
    // The relationships are the CRs': the server config holds none of its own.
    const server = parseHcl(configMapText(objects, 'spire-server', 'server.conf')) as Any;
    assert.equal(server.server.federation.federates_with, undefined);
    assert.ok(server.server.federation.bundle_endpoint);
  });

  it('gives the registrar the RBAC reconcile mode needs', () => {
    const { objects } = spireConfigs(config, 0, FACTS);
    const role = find(objects, 'ClusterRole', 'mesh-federation-spire-server') as Any;
    const rule = role.rules.find((r: Any) => r.resources.includes('pods'));
    assert.deepEqual([...rule.resources].sort(), ['endpoints', 'nodes', 'pods']);
    assert.deepEqual([...rule.verbs].sort(), ['get', 'list', 'watch']);
    const binding = find(objects, 'ClusterRoleBinding', role.metadata.name) as Any;
    const sts = find(objects, 'StatefulSet', SPIRE_SERVER.statefulSet, SPIRE_NAMESPACE) as Any;
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: podSpec(sts).serviceAccountName, namespace: SPIRE_NAMESPACE },
    ]);
  });

  it('configures agents for PSAT, the k8s workload attestor and Istio-compatible SDS names', () => {
    const { agent, objects } = spireConfigs(config, 0, FACTS);
    assert.equal(agent.agent.trust_domain, 'foo.com');
    assert.deepEqual(agent.agent.sds, {
      default_svid_name: 'default',
      default_bundle_name: 'null',
      default_all_bundles_name: 'ROOTCA',
    });
    assert.deepEqual(agent.plugins.NodeAttestor.k8s_psat.plugin_data, { cluster: 'cluster-1' });
    assert.equal(agent.plugins.WorkloadAttestor.k8s.plugin_data.skip_kubelet_verification, true);
    assert.equal(agent.agent.server_address, `${SPIRE_SERVER.service}.${SPIRE_NAMESPACE}.svc`);
    assert.equal(agent.agent.server_port, 8081);

    const ds = find(objects, 'DaemonSet', 'spire-agent', SPIRE_NAMESPACE) as Any;
    assert.deepEqual(
      podSpec(ds).containers.map((c: Any) => c.name),
      ['spire-agent', 'spiffe-csi-driver', 'node-driver-registrar'],
    );
    assert.equal(podSpec(ds).hostPID, true);
    // The agent's socket lives in the host dir the CSI driver serves to pods.
    const socketVolume = podSpec(ds).volumes.find(
      (v: Any) => mountPath(ds, 'spire-agent', v.name) === posix.dirname(agent.agent.socket_path),
    );
    assert.ok(socketVolume?.hostPath, 'the agent socket dir is a hostPath volume');
    assert.equal(posix.basename(agent.agent.socket_path), 'socket');
    const csiArgs: string[] = container(ds, 'spiffe-csi-driver').args;
    const socketDirArg = csiArgs[csiArgs.indexOf('-workload-api-socket-dir') + 1];
    assert.equal(mountPath(ds, 'spiffe-csi-driver', socketVolume.name), socketDirArg);
    // It bootstraps from the bundle the server's notifier writes.
    const bundleDir = posix.dirname(agent.agent.trust_bundle_path);
    const bundleVolume = podSpec(ds).volumes.find(
      (v: Any) => v.configMap && mountPath(ds, 'spire-agent', v.name) === bundleDir,
    );
    assert.equal(bundleVolume.configMap.name, 'spire-bundle');
    assert.equal(posix.basename(agent.agent.trust_bundle_path), 'bundle.crt');
    find(objects, 'ConfigMap', 'spire-bundle', SPIRE_NAMESPACE);
    // Its projected token is the PSAT the server's attestor accepts.
    const token = volume(ds, 'spire-token').projected.sources[0].serviceAccountToken;
    assert.equal(token.audience, 'spire-server');
    assert.equal(mountPath(ds, 'spire-agent', 'spire-token'), '/var/run/secrets/tokens');
    assert.equal(token.path, 'spire-agent');
    assert.equal(podSpec(ds).serviceAccountName, 'spire-agent');
  });

  it('registers the SPIFFE CSI driver for ephemeral volumes only', () => {
    const { objects } = spireConfigs(config, 0, FACTS);
    const driver = find(objects, 'CSIDriver', 'csi.spiffe.io') as Any;
    assert.deepEqual(driver.spec.volumeLifecycleModes, ['Ephemeral']);
    assert.equal(driver.spec.attachRequired, false);
  });

  it('uses the SPIRE version and registry, with the registrar from where SPIRE published it', () => {
    const images = (cfg: Config) => {
      const objects = renderPhase(cfg, 'spire', cluster(cfg, 0), FACTS).objects;
      return workloads(objects).flatMap((w) => podSpec(w).containers.map((c: Any) => c.image));
    };
    assert.deepEqual(images(config), [
      'ghcr.io/spiffe/spire-server:1.5.1',
      'gcr.io/spiffe-io/k8s-workload-registrar:1.5.1',
      'ghcr.io/spiffe/spire-agent:1.5.1',
      'ghcr.io/spiffe/spiffe-csi-driver:0.2.3',
      'registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.8.0',
    ]);
    const mirrored = images(makeConfig({ spireRegistry: 'mirror.example/spiffe' }));
    assert.ok(mirrored.includes('mirror.example/spiffe/k8s-workload-registrar:1.5.1'));
    assert.ok(mirrored.includes('mirror.example/spiffe/spire-server:1.5.1'));
    const registrar = 'mirror.example/sig-storage/csi-node-driver-registrar:v2.8.0';
    const own = makeConfig({});
    own.images.nodeDriverRegistrar = registrar;
    assert.ok(images(own).includes(registrar));
    assert.ok(!images(own).some((i: string) => i.startsWith('registry.k8s.io/')));
  });
});

// ---- istio ----------------------------------------------------------------

function injectionTemplates(iop: K8sObject): { spire: Any; gateway: Any } {
  const templates = (iop as Any).spec.values.sidecarInjectorWebhook.templates;
  return { spire: YAML.parse(templates.spire), gateway: YAML.parse(templates['spire-gateway']) };
}

describe('istio phase', () => {
  const config = makeConfig();

  it('applies the network-labelled namespace, the cross-network gateway and STRICT mTLS', () => {
    const { objects, istioOperators } = renderPhase(config, 'istio', cluster(config, 1));
    assert.equal(
      find(objects, 'Namespace', 'istio-system').metadata.labels?.['topology.istio.io/network'],
      'network2',
    );
    const gateway = find(objects, 'Gateway', 'cross-network-gateway', 'istio-system') as Any;
    assert.deepEqual(gateway.spec.servers, [
      {
        port: { number: 15443, name: 'tls', protocol: 'TLS' },
        tls: { mode: 'AUTO_PASSTHROUGH' },
        hosts: ['*.local'],
      },
    ]);
    assert.deepEqual(gateway.spec.selector, { istio: 'eastwestgateway' });
    const peer = find(objects, 'PeerAuthentication', 'default', 'istio-system') as Any;
    assert.equal(peer.spec.mtls.mode, 'STRICT');
    assert.deepEqual(
      istioOperators.map((o) => [o.kind, o.metadata.name]),
      [
        ['IstioOperator', 'mesh-federation'],
        ['IstioOperator', 'eastwest'],
      ],
    );
  });

  it('makes each cluster a primary of one mesh trusting the other trust domain', () => {
    for (const [index, own, other] of [
      [0, 'foo.com', 'bar.com'],
      [1, 'bar.com', 'foo.com'],
    ] as const) {
      const [main] = renderPhase(config, 'istio', cluster(config, index)).istioOperators as Any[];
      assert.equal(main.spec.hub, 'docker.io/istio');
      assert.equal(main.spec.tag, '1.22.1');
      assert.equal(main.spec.meshConfig.trustDomain, own);
      // One anchor per trust domain, as Istio's SPIRE federation guides write it: its own
      // from the in-cluster bundle endpoint, the other's as federation reaches it (unknown
      // before the spire phase, so a placeholder here; see the facts case below).
      assert.equal(main.spec.meshConfig.trustDomainAliases, undefined);
      const anchors = main.spec.meshConfig.caCertificates as {
        spiffeBundleUrl: string;
        trustDomains: string[];
      }[];
      assert.deepEqual(
        anchors.map((a) => a.trustDomains),
        [['foo.com'], ['bar.com']],
      );
      const ownAnchor = anchors.find((a) => a.trustDomains[0] === own)!;
      const otherAnchor = anchors.find((a) => a.trustDomains[0] === other)!;
      assert.equal(
        ownAnchor.spiffeBundleUrl,
        'https://spire-server-bundle-endpoint.spire.svc:8443',
      );
      assert.equal(
        otherAnchor.spiffeBundleUrl,
        `https://<bundle endpoint of cluster-${2 - index}>:8443`,
      );
      const [withFacts] = renderPhase(config, 'istio', cluster(config, index), {
        bundleEndpoints: { [other]: 'https://203.0.113.7:31443' },
      }).istioOperators as Any[];
      assert.deepEqual(
        withFacts.spec.meshConfig.caCertificates.find(
          (a: { trustDomains: string[] }) => a.trustDomains[0] === other,
        ).spiffeBundleUrl,
        'https://203.0.113.7:31443',
      );
      assert.deepEqual(main.spec.values.global, {
        meshID: 'mesh1',
        // Filled only for NodePort gateways (see cluster-edges.test.ts).
        meshNetworks: {},
        multiCluster: { clusterName: `cluster-${index + 1}` },
        network: `network${index + 1}`,
      });
      const ingress = main.spec.components.ingressGateways[0];
      assert.equal(ingress.name, 'istio-ingressgateway');
      assert.equal(ingress.k8s.podAnnotations['spiffe.io/federatesWith'], other);
    }
  });

  it('installs the east-west gateway of the cluster network with the SPIRE gateway template', () => {
    const [, eastWest] = renderPhase(config, 'istio', cluster(config, 0)).istioOperators as Any[];
    const gateway = eastWest.spec.components.ingressGateways[0];
    assert.equal(gateway.name, 'istio-eastwestgateway');
    assert.equal(gateway.label['topology.istio.io/network'], 'network1');
    assert.deepEqual(gateway.k8s.env, [
      { name: 'ISTIO_META_REQUESTED_NETWORK_VIEW', value: 'network1' },
    ]);
    assert.deepEqual(
      gateway.k8s.service.ports.map((p: Any) => p.port),
      [15021, 15443, 15012, 15017],
    );
    assert.equal(gateway.k8s.podAnnotations['spiffe.io/federatesWith'], 'bar.com');
    assert.equal(eastWest.spec.profile, 'empty');
    assert.equal(
      eastWest.spec.values.gateways['istio-ingressgateway'].injectionTemplate,
      'gateway,spire-gateway',
    );
    assert.equal(eastWest.spec.values.global.network, 'network1');
  });

  it('patches istio-proxy in containers before Istio 1.27 and in initContainers from 1.27', () => {
    const expectedMount = {
      name: 'workload-socket',
      mountPath: '/var/run/secrets/workload-spiffe-uds',
      readOnly: true,
    };
    // emptyDir: null deletes the gateway template's emptyDir when Istio merges the two.
    const expectedVolumes = [
      { name: 'workload-socket', emptyDir: null, csi: { driver: 'csi.spiffe.io', readOnly: true } },
    ];
    for (const [istio, native] of [
      ['1.22.1', false],
      ['1.26.3', false],
      ['1.27.0', true],
      ['1.28.2', true],
    ] as const) {
      const cfg = makeConfig({ istio });
      const [main] = renderPhase(cfg, 'istio', cluster(cfg, 0)).istioOperators as Any[];
      const { spire, gateway } = injectionTemplates(main);
      const list = native ? 'initContainers' : 'containers';
      assert.deepEqual(Object.keys(spire.spec).sort(), [list, 'volumes'].sort(), istio);
      assert.deepEqual(spire.spec[list], [{ name: 'istio-proxy', volumeMounts: [expectedMount] }]);
      assert.deepEqual(spire.spec.volumes, expectedVolumes);
      // Gateways run istio-proxy as their main container on every version.
      assert.deepEqual(Object.keys(gateway.spec).sort(), ['containers', 'volumes']);
      assert.deepEqual(gateway.spec.containers, [
        { name: 'istio-proxy', volumeMounts: [expectedMount] },
      ]);
      assert.deepEqual(
        main.spec.values.pilot.env,
        native ? { ENABLE_NATIVE_SIDECARS: 'true' } : {},
        istio,
      );
      assert.equal(main.spec.tag, istio);
    }
  });

  it('has the ingress gateway opt into the SPIRE gateway template', () => {
    const [main] = renderPhase(config, 'istio', cluster(config, 0)).istioOperators as Any[];
    assert.equal(
      main.spec.values.gateways['istio-ingressgateway'].injectionTemplate,
      'gateway,spire-gateway',
    );
  });
});

// ---- examples -------------------------------------------------------------

describe('examples phase', () => {
  const config = makeConfig();
  const [first, second] = [0, 1].map(
    (i) => renderPhase(config, 'examples', cluster(config, i)).objects,
  ) as [K8sObject[], K8sObject[]];
  const deployments = (objects: K8sObject[]) =>
    objects
      .filter((o) => o.kind === 'Deployment')
      .map((o) => `${o.metadata.namespace}/${o.metadata.name}`);

  it('runs helloworld v1 only on the first cluster and v2 only on the second', () => {
    assert.deepEqual(
      deployments(first).filter((d) => d.startsWith('helloworld/')),
      ['helloworld/helloworld-v1'],
    );
    assert.deepEqual(
      deployments(second).filter((d) => d.startsWith('helloworld/')),
      ['helloworld/helloworld-v2'],
    );
    const v2 = find(second, 'Deployment', 'helloworld-v2', 'helloworld') as Any;
    assert.equal(container(v2, 'helloworld').image, 'docker.io/istio/examples-helloworld-v2:1.0');
    assert.equal(v2.spec.template.metadata.labels.version, 'v2');
  });

  it('puts the helloworld Service and sleep on every cluster', () => {
    for (const objects of [first, second]) {
      const service = find(
        objects,
        'Service',
        EXAMPLES.helloworld.service,
        EXAMPLES.helloworld.namespace,
      ) as Any;
      assert.equal(service.spec.ports[0].port, EXAMPLES.helloworld.port);
      assert.deepEqual(service.spec.selector, { app: 'helloworld' });
      find(objects, 'ServiceAccount', 'sleep', EXAMPLES.sleep.namespace);
      find(objects, 'Service', 'sleep', EXAMPLES.sleep.namespace);
      const sleep = find(objects, 'Deployment', 'sleep', EXAMPLES.sleep.namespace) as Any;
      assert.equal(sleep.spec.template.metadata.labels.app, EXAMPLES.sleep.app);
      assert.ok(container(sleep, EXAMPLES.sleep.container).image.includes('/curl:'));
      for (const ns of ['helloworld', 'sleep']) {
        assert.equal(
          find(objects, 'Namespace', ns).metadata.labels?.['istio-injection'],
          'enabled',
        );
      }
    }
  });

  it('deploys bookinfo in its namespace on the second cluster only', () => {
    assert.ok(
      !first.some((o) => o.metadata.namespace === 'bookinfo' || o.metadata.name === 'bookinfo'),
    );
    assert.deepEqual(
      deployments(second)
        .filter((d) => d.startsWith('bookinfo/'))
        .sort(),
      [
        'bookinfo/details-v1',
        `bookinfo/${EXAMPLES.bookinfo.productpage}`,
        'bookinfo/ratings-v1',
        'bookinfo/reviews-v1',
        'bookinfo/reviews-v2',
        'bookinfo/reviews-v3',
      ],
    );
    for (const name of ['details', 'ratings', 'reviews', 'productpage']) {
      find(second, 'Service', name, 'bookinfo');
      find(second, 'ServiceAccount', `bookinfo-${name}`, 'bookinfo');
    }
    const reviews = find(second, 'Deployment', 'reviews-v3', 'bookinfo') as Any;
    assert.equal(
      container(reviews, 'reviews').image,
      'docker.io/istio/examples-bookinfo-reviews-v3:1.19.1',
    );
    assert.equal(podSpec(reviews).serviceAccountName, 'bookinfo-reviews');
  });

  it('asks every sample pod for the SPIRE sidecar template and federation with the other domain', () => {
    for (const [objects, other] of [
      [first, 'bar.com'],
      [second, 'foo.com'],
    ] as const) {
      for (const d of objects.filter((o) => o.kind === 'Deployment') as Any[]) {
        assert.deepEqual(
          d.spec.template.metadata.annotations,
          {
            'inject.istio.io/templates': 'sidecar,spire',
            'spiffe.io/federatesWith': other,
          },
          d.metadata.name,
        );
      }
    }
  });

  it('lets callers accept helloworld identities of both trust domains', () => {
    for (const objects of [first, second]) {
      const rule = find(objects, 'DestinationRule', 'helloworld', 'helloworld') as Any;
      assert.equal(rule.spec.host, 'helloworld.helloworld.svc.cluster.local');
      assert.equal(rule.spec.trafficPolicy.tls.mode, 'ISTIO_MUTUAL');
      assert.deepEqual(rule.spec.trafficPolicy.tls.subjectAltNames, [
        'spiffe://foo.com/ns/helloworld/sa/helloworld',
        'spiffe://bar.com/ns/helloworld/sa/helloworld',
      ]);
      const hello = objects.find(
        (o) => o.kind === 'Deployment' && o.metadata.namespace === 'helloworld',
      );
      assert.equal(podSpec(hello as K8sObject).serviceAccountName, 'helloworld');
    }
  });
});

describe('renderIngress', () => {
  it('routes the ingress gateway to helloworld, as the seed’s helloworld-gateway.yaml', () => {
    const objects = renderIngress();
    const gateway = find(objects, 'Gateway', 'helloworld-gateway', 'helloworld') as Any;
    assert.deepEqual(gateway.spec.selector, { istio: 'ingressgateway' });
    assert.equal(gateway.spec.servers[0].port.number, 80);
    const route = find(objects, 'VirtualService', 'helloworld', 'helloworld') as Any;
    assert.deepEqual(route.spec.gateways, ['helloworld-gateway']);
    assert.deepEqual(route.spec.http[0].match, [{ uri: { exact: EXAMPLES.helloworld.path } }]);
    assert.deepEqual(route.spec.http[0].route[0].destination, {
      host: EXAMPLES.helloworld.service,
      port: { number: EXAMPLES.helloworld.port },
    });
    for (const o of objects) assert.equal(o.metadata.labels?.[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
  });
});

describe('labelObject', () => {
  it('adds the ownership labels without touching the input or its other labels', () => {
    const input: K8sObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'x', namespace: 'y', labels: { app: 'x' } },
    };
    const labelled = labelObject(input, 'cert-manager');
    assert.deepEqual(labelled.metadata.labels, {
      app: 'x',
      [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
      [PHASE_LABEL]: 'cert-manager',
    });
    assert.deepEqual(input.metadata.labels, { app: 'x' });
  });
});
