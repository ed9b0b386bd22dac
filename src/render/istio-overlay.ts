// The user's IstioOperator overlay (input `istio-overlay`): merged into each
// cluster's control-plane IstioOperator before `istioctl manifest generate`,
// the way `istioctl install -f ours.yaml -f yours.yaml` layers files. The
// fields the mesh's federation depends on come from other inputs; an overlay
// that would change them is refused rather than silently winning or losing.
import type { TemplateValue } from './template.ts';

export type OverlaySpec = { readonly [key: string]: TemplateValue };

/** Fields of the control-plane IstioOperator's `spec` set from inputs (or by the action). */
export const ACTION_OWNED_ISTIO_FIELDS: readonly { path: readonly string[]; setBy: string }[] = [
  { path: ['hub'], setBy: "input 'istio-hub'" },
  { path: ['tag'], setBy: "input 'istio-version'" },
  { path: ['meshConfig', 'trustDomain'], setBy: "input 'trust-domains'" },
  {
    path: ['meshConfig', 'caCertificates'],
    setBy: "input 'trust-domains' (one SPIRE bundle endpoint per trust domain)",
  },
  {
    path: ['components', 'ingressGateways'],
    setBy:
      "the action (its ingress gateway carries the SPIRE federation annotations; tune it under 'values.gateways.istio-ingressgateway' instead)",
  },
  { path: ['values', 'global', 'meshID'], setBy: "input 'mesh-id'" },
  { path: ['values', 'global', 'multiCluster', 'clusterName'], setBy: "input 'cluster-names'" },
  { path: ['values', 'global', 'network'], setBy: "input 'networks'" },
  {
    path: ['values', 'global', 'meshNetworks'],
    setBy: "the action (from input 'service-type' and the east-west gateways it finds)",
  },
  { path: ['values', 'gateways', 'istio-ingressgateway', 'type'], setBy: "input 'service-type'" },
  {
    path: ['values', 'gateways', 'istio-ingressgateway', 'injectionTemplate'],
    setBy: 'the action (the SPIRE injection templates)',
  },
  {
    path: ['values', 'sidecarInjectorWebhook', 'templates', 'spire'],
    setBy: 'the action (the SPIRE injection template)',
  },
  {
    path: ['values', 'sidecarInjectorWebhook', 'templates', 'spire-gateway'],
    setBy: 'the action (the SPIRE injection template)',
  },
  {
    path: ['values', 'pilot', 'env', 'ENABLE_NATIVE_SIDECARS'],
    setBy: "input 'istio-version' (native sidecars from 1.27)",
  },
];

function isMap(v: unknown): v is { readonly [key: string]: TemplateValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The owned fields an overlay would change: it sets the field, or replaces a
 * map on the way to it with something that is not a map (a list, a scalar or
 * null, which deletes).
 */
export function ownedFieldsTouched(overlay: OverlaySpec): { field: string; setBy: string }[] {
  return ACTION_OWNED_ISTIO_FIELDS.flatMap(({ path, setBy }) => {
    let node: TemplateValue | undefined = overlay;
    for (const [depth, key] of path.entries()) {
      if (!isMap(node)) break;
      node = node[key];
      if (node === undefined) return [];
      if (depth < path.length - 1 && !isMap(node))
        return [{ field: `spec.${path.slice(0, depth + 1).join('.')}`, setBy }];
    }
    return [{ field: `spec.${path.join('.')}`, setBy }];
  });
}

/**
 * JSON merge patch (RFC 7386): maps merge key by key, anything else replaces,
 * null removes the key.
 */
export function mergePatch(target: TemplateValue | undefined, patch: TemplateValue): TemplateValue {
  if (!isMap(patch)) return patch;
  const merged: Record<string, TemplateValue> = isMap(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = mergePatch(merged[key], value);
  }
  return merged;
}
