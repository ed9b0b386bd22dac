// Multi-document YAML (release manifests, istioctl output) -> objects, skipping
// empty documents and `List` wrappers' nesting.
import YAML from 'yaml';
import type { K8sObject } from './model/k8s-object.ts';

export function parseObjects(text: string, source: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length > 0)
      throw new Error(`${source}: invalid YAML: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as unknown;
    if (value === null || typeof value !== 'object') continue;
    const object = value as Partial<K8sObject> & { items?: unknown[] };
    if (object.kind?.endsWith('List') && Array.isArray(object.items))
      out.push(...(object.items as K8sObject[]));
    else if (object.kind && object.apiVersion && object.metadata?.name)
      out.push(object as K8sObject);
  }
  return out;
}
