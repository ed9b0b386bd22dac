// A release-like cert-manager.yaml for the test rig: the upstream CRDs, taken from the
// cert-manager Go module in the module cache with their Helm templating stripped, plus
// workload objects written for this rig that mirror the shape of the upstream static release
// (namespace, service accounts, RBAC, three Deployments, two Services, two webhook
// configurations). Under kwok no pod runs; the rig controller answers the webhooks.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { moduleDir } from './gomod.ts';

export const CERT_MANAGER_MODULE = 'github.com/cert-manager/cert-manager';
export const CERT_MANAGER_VERSION = 'v1.15.1';

const NS = 'cert-manager';

/** Turns one chart CRD file into plain YAML; throws if any template syntax is left. */
export function stripHelm(text: string, version: string): Record<string, unknown> {
  const lines = text
    .split('\n')
    // Template control lines in this chart are YAML comments (`# START crd {{- if ... }}`).
    .filter((l) => !(l.trimStart().startsWith('#') && l.includes('{{')))
    .map((l) =>
      l.replace(
        /'\{\{ template "cert-manager\.name" \. \}\}'|'\{\{ \.Release\.Name \}\}'/g,
        "'cert-manager'",
      ),
    );
  const left = lines.find((l) => l.includes('{{'));
  if (left !== undefined) throw new Error(`unhandled Helm template in CRD: ${left.trim()}`);
  const docs = parseAllDocuments(lines.join('\n')).filter((d) => d.contents !== null);
  if (docs.length !== 1) throw new Error(`expected one CRD per file, got ${docs.length}`);
  const crd = docs[0]!.toJS() as { kind?: string; metadata: { labels?: Record<string, string> } };
  if (crd.kind !== 'CustomResourceDefinition') throw new Error(`not a CRD: ${crd.kind}`);
  crd.metadata.labels = { ...crd.metadata.labels, 'app.kubernetes.io/version': version };
  return crd as Record<string, unknown>;
}

export function upstreamCrds(version = CERT_MANAGER_VERSION): Record<string, unknown>[] {
  const dir = join(moduleDir(CERT_MANAGER_MODULE, version), 'deploy', 'crds');
  return readdirSync(dir)
    .filter((f) => /^crd-.*\.yaml$/.test(f))
    .sort()
    .map((f) => stripHelm(readFileSync(join(dir, f), 'utf8'), version));
}

function labels(component: string, name: string, version: string): Record<string, string> {
  return {
    app: name,
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/instance': 'cert-manager',
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/version': version,
  };
}

function selector(component: string, name: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/instance': 'cert-manager',
    'app.kubernetes.io/component': component,
  };
}

interface Component {
  component: string;
  name: string;
  image: string;
  args: string[];
  ports: { name: string; containerPort: number }[];
  rules: object[];
}

function components(version: string): Component[] {
  const certManagerGroups = ['cert-manager.io', 'acme.cert-manager.io'];
  return [
    {
      component: 'cainjector',
      name: 'cainjector',
      image: `quay.io/jetstack/cert-manager-cainjector:${version}`,
      args: ['--v=2', '--leader-election-namespace=kube-system'],
      ports: [{ name: 'http-metrics', containerPort: 9402 }],
      rules: [
        {
          apiGroups: ['cert-manager.io'],
          resources: ['certificates'],
          verbs: ['get', 'list', 'watch'],
        },
        { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['get', 'create', 'update', 'patch'] },
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'],
          verbs: ['get', 'list', 'watch', 'update', 'patch'],
        },
        {
          apiGroups: ['apiextensions.k8s.io'],
          resources: ['customresourcedefinitions'],
          verbs: ['get', 'list', 'watch', 'update', 'patch'],
        },
      ],
    },
    {
      component: 'controller',
      name: 'cert-manager',
      image: `quay.io/jetstack/cert-manager-controller:${version}`,
      args: [
        '--v=2',
        `--cluster-resource-namespace=$(POD_NAMESPACE)`,
        '--leader-election-namespace=kube-system',
      ],
      ports: [{ name: 'http-metrics', containerPort: 9402 }],
      rules: [
        { apiGroups: certManagerGroups, resources: ['*'], verbs: ['*'] },
        {
          apiGroups: [''],
          resources: ['secrets'],
          verbs: ['get', 'list', 'watch', 'create', 'update', 'delete', 'patch'],
        },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        {
          apiGroups: ['certificates.k8s.io'],
          resources: ['certificatesigningrequests'],
          verbs: ['get', 'list', 'watch', 'update'],
        },
        {
          apiGroups: ['authorization.k8s.io'],
          resources: ['subjectaccessreviews'],
          verbs: ['create'],
        },
      ],
    },
    {
      component: 'webhook',
      name: 'webhook',
      image: `quay.io/jetstack/cert-manager-webhook:${version}`,
      args: [
        '--v=2',
        '--secure-port=10250',
        '--dynamic-serving-ca-secret-namespace=$(POD_NAMESPACE)',
        '--dynamic-serving-ca-secret-name=cert-manager-webhook-ca',
        '--dynamic-serving-dns-names=cert-manager-webhook,cert-manager-webhook.$(POD_NAMESPACE),cert-manager-webhook.$(POD_NAMESPACE).svc',
      ],
      ports: [
        { name: 'https', containerPort: 10250 },
        { name: 'healthcheck', containerPort: 6080 },
      ],
      rules: [
        {
          apiGroups: ['authorization.k8s.io'],
          resources: ['subjectaccessreviews'],
          verbs: ['create'],
        },
      ],
    },
  ];
}

/** Kubernetes object name of a component (`cert-manager`, `cert-manager-webhook`, ...). */
const objectName = (c: Component) =>
  c.name === 'cert-manager' ? 'cert-manager' : `cert-manager-${c.name}`;

function workloadObjects(version: string): object[] {
  const out: object[] = [];
  for (const c of components(version)) {
    const name = objectName(c);
    const meta = (n: string, namespace?: string) => ({
      name: n,
      ...(namespace ? { namespace } : {}),
      labels: labels(c.component, c.name, version),
    });
    out.push(
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: meta(name, NS),
        automountServiceAccountToken: true,
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: meta(name),
        rules: c.rules,
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: meta(name),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace: NS }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: meta(`${name}:leaderelection`, 'kube-system'),
        rules: [
          {
            apiGroups: ['coordination.k8s.io'],
            resources: ['leases'],
            verbs: ['get', 'create', 'update', 'patch'],
          },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: meta(`${name}:leaderelection`, 'kube-system'),
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'Role',
          name: `${name}:leaderelection`,
        },
        subjects: [{ kind: 'ServiceAccount', name, namespace: NS }],
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta(name, NS),
        spec: {
          replicas: 1,
          selector: { matchLabels: selector(c.component, c.name) },
          template: {
            metadata: { labels: labels(c.component, c.name, version) },
            spec: {
              serviceAccountName: name,
              enableServiceLinks: false,
              securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [
                {
                  name: `cert-manager-${c.name === 'cert-manager' ? 'controller' : c.name}`,
                  image: c.image,
                  imagePullPolicy: 'IfNotPresent',
                  args: c.args,
                  ports: c.ports.map((p) => ({ ...p, protocol: 'TCP' })),
                  env: [
                    {
                      name: 'POD_NAMESPACE',
                      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
                    },
                  ],
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    capabilities: { drop: ['ALL'] },
                    readOnlyRootFilesystem: true,
                  },
                },
              ],
              nodeSelector: { 'kubernetes.io/os': 'linux' },
            },
          },
        },
      },
    );
  }
  const [, controller, webhook] = components(version);
  out.push(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'cert-manager',
        namespace: NS,
        labels: labels('controller', 'cert-manager', version),
      },
      spec: {
        type: 'ClusterIP',
        selector: selector('controller', controller!.name),
        ports: [
          {
            name: 'tcp-prometheus-servicemonitor',
            port: 9402,
            protocol: 'TCP',
            targetPort: 'http-metrics',
          },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'cert-manager-webhook',
        namespace: NS,
        labels: labels('webhook', 'webhook', version),
      },
      spec: {
        type: 'ClusterIP',
        selector: selector('webhook', webhook!.name),
        ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 'https' }],
      },
    },
  );
  const webhookMeta = {
    name: 'cert-manager-webhook',
    labels: labels('webhook', 'webhook', version),
    // Upstream's cainjector fills caBundle from this secret; in the rig the controller does.
    annotations: { 'cert-manager.io/inject-ca-from-secret': `${NS}/cert-manager-webhook-ca` },
  };
  const common = {
    name: 'webhook.cert-manager.io',
    admissionReviewVersions: ['v1'],
    matchPolicy: 'Equivalent',
    timeoutSeconds: 30,
    failurePolicy: 'Fail',
    sideEffects: 'None',
  };
  out.push(
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: webhookMeta,
      webhooks: [
        {
          ...common,
          rules: [
            {
              apiGroups: ['cert-manager.io'],
              apiVersions: ['v1'],
              operations: ['CREATE'],
              resources: ['certificaterequests'],
            },
          ],
          clientConfig: {
            service: { name: 'cert-manager-webhook', namespace: NS, path: '/mutate' },
          },
        },
      ],
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: webhookMeta,
      webhooks: [
        {
          ...common,
          namespaceSelector: {
            matchExpressions: [
              { key: 'cert-manager.io/disable-validation', operator: 'NotIn', values: ['true'] },
            ],
          },
          rules: [
            {
              apiGroups: ['cert-manager.io', 'acme.cert-manager.io'],
              apiVersions: ['v1'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['*/*'],
            },
          ],
          clientConfig: {
            service: { name: 'cert-manager-webhook', namespace: NS, path: '/validate' },
          },
        },
      ],
    },
  );
  return out;
}

export function certManagerManifest(version = CERT_MANAGER_VERSION): string {
  const header = [
    `# cert-manager ${version}: TEST FIXTURE for the mesh-federation rig, not the upstream release.`,
    `# CRDs: upstream ${CERT_MANAGER_MODULE}@${version} deploy/crds (Helm templating stripped).`,
    '# Everything else is written for the rig and mirrors the shape of the release manifest.',
  ].join('\n');
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } };
  const docs = [namespace, ...upstreamCrds(version), ...workloadObjects(version)];
  return `${header}\n${docs.map((d) => `---\n${stringify(d, { lineWidth: 0 })}`).join('')}`;
}
