import { AdmissionServers } from '../admission.ts';
import { createCa } from '../certs.ts';
import { request } from 'node:https';
const ca = await createCa('t');
const logs: string[] = [];
const a = new AdmissionServers(ca, (l) => logs.push(l));
await a.reconcile('cluster-1', [{ cluster: 'cluster-1', ip: '127.101.0.50', port: 9443, service: 'ns/hook' }]);
const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u1', kind: { group: '', kind: 'ConfigMap' }, operation: 'CREATE', namespace: 'x', name: 'cm' } });
const out = await new Promise<string>((res, rej) => {
  const r = request({ host: '127.101.0.50', port: 9443, path: '/validate?timeout=5s', method: 'POST', servername: 'hook.ns.svc', ca: ca.cert, headers: { 'content-type': 'application/json' } }, (resp) => { let d = ''; resp.on('data', (c) => d += c); resp.on('end', () => res(d)); });
  r.on('error', rej); r.end(body);
});
console.log(out);
await a.reconcile('cluster-1', []);
console.log(logs.join('\n'));
