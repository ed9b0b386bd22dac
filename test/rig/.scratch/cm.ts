import { certManagerManifest } from '../cert-manager-manifest.ts';
import { parseAllDocuments } from 'yaml';
const m = certManagerManifest();
const docs = parseAllDocuments(m).map(d => d.toJS());
console.log(docs.length, docs.map(d => `${d.kind}/${d.metadata.name}`).join('\n'));
console.log(m.slice(0, 600));
