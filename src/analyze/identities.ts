// Registration entries on a SPIRE server versus the workloads that need an
// identity. Reads `spire-server entry show` as printed by SPIRE 1.5 and later
// (cmd/spire-server/cli/entry/util.go printEntry: "Key<padding>: value" lines,
// one block per entry, repeated Selector / FederatesWith / DNS name lines), and
// the `-output json` form of newer servers.

import { failed, passed, type Check } from '../model/check.ts';
import { normalizeTrustDomain, parseSpiffeId, workloadSpiffeId } from './x509.ts';

export interface SpireEntry {
  entryId: string;
  spiffeId: string;
  parentId: string;
  revision?: number;
  /** Seconds, or 'default'; from "X509-SVID TTL" (or "TTL" before SPIRE 1.5). */
  x509SvidTtl?: string;
  jwtSvidTtl?: string;
  /** "type:value", e.g. "k8s:ns:helloworld". */
  selectors: string[];
  /** Trust domain names, normalized ("bar.com"), whatever form the server printed. */
  federatesWith: string[];
  dnsNames: string[];
  downstream: boolean;
  admin: boolean;
  expiresAt?: string;
  hint?: string;
}

export class SpireOutputError extends Error {
  override name = 'SpireOutputError';
}

const KEY_LINE = /^([A-Za-z0-9][A-Za-z0-9 -]*?)\s*:\s?(.*)$/;

function emptyEntry(entryId: string): SpireEntry {
  return {
    entryId,
    spiffeId: '',
    parentId: '',
    selectors: [],
    federatesWith: [],
    dnsNames: [],
    downstream: false,
    admin: false,
  };
}

function parsePretty(text: string): SpireEntry[] {
  const entries: SpireEntry[] = [];
  let current: SpireEntry | undefined;
  let announced: number | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (!line.trim()) continue;
    const found = /^Found (\d+) entr(?:y|ies)$/.exec(line.trim());
    if (found) {
      announced = Number(found[1]);
      continue;
    }
    const match = KEY_LINE.exec(line.trim());
    if (!match) throw new SpireOutputError(`unexpected line in entry show output: ${line}`);
    const key = (match[1] as string).toLowerCase();
    const value = (match[2] as string).trim();
    if (key === 'entry id') {
      current = emptyEntry(value);
      entries.push(current);
      continue;
    }
    if (!current) throw new SpireOutputError(`unexpected line before any entry: ${line.trim()}`);
    switch (key) {
      case 'spiffe id':
        current.spiffeId = value;
        break;
      case 'parent id':
        current.parentId = value;
        break;
      case 'revision':
        current.revision = Number(value);
        break;
      case 'ttl':
      case 'x509-svid ttl':
        current.x509SvidTtl = value;
        break;
      case 'jwt-svid ttl':
        current.jwtSvidTtl = value;
        break;
      case 'selector':
        current.selectors.push(value);
        break;
      case 'federateswith':
        current.federatesWith.push(normalizeTrustDomain(value));
        break;
      case 'dns name':
        current.dnsNames.push(value);
        break;
      case 'downstream':
        current.downstream = value === 'true';
        break;
      case 'admin':
        current.admin = value === 'true';
        break;
      case 'expiration time':
        current.expiresAt = value;
        break;
      case 'hint':
        current.hint = value;
        break;
      default:
        // StoreSvid and later additions: not needed to judge identities.
        break;
    }
  }
  if (announced === undefined && entries.length === 0) {
    throw new SpireOutputError('not entry show output: no "Found N entries" line and no entries');
  }
  if (announced !== undefined && announced !== entries.length) {
    throw new SpireOutputError(`output announces ${announced} entries but holds ${entries.length}`);
  }
  for (const e of entries) {
    if (!e.spiffeId) throw new SpireOutputError(`entry ${e.entryId} has no SPIFFE ID`);
  }
  return entries;
}

interface JsonId {
  trust_domain?: string;
  path?: string;
}
interface JsonEntry {
  id?: string;
  spiffe_id?: JsonId;
  parent_id?: JsonId;
  selectors?: { type?: string; value?: string }[];
  federates_with?: string[];
  dns_names?: string[];
  x509_svid_ttl?: number;
  jwt_svid_ttl?: number;
  revision_number?: string | number;
  downstream?: boolean;
  admin?: boolean;
  expires_at?: string | number;
  hint?: string;
}

const idString = (id: JsonId | undefined): string =>
  id?.trust_domain ? `spiffe://${normalizeTrustDomain(id.trust_domain)}${id.path ?? ''}` : '';

function parseJson(text: string): SpireEntry[] {
  let doc: { entries?: JsonEntry[] };
  try {
    doc = JSON.parse(text) as { entries?: JsonEntry[] };
  } catch (err) {
    throw new SpireOutputError(`entry show JSON does not parse: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc.entries))
    throw new SpireOutputError('entry show JSON has no "entries" list');
  return doc.entries.map((e) => {
    const entry = emptyEntry(e.id ?? '');
    entry.spiffeId = idString(e.spiffe_id);
    entry.parentId = idString(e.parent_id);
    if (e.revision_number !== undefined) entry.revision = Number(e.revision_number);
    entry.x509SvidTtl = e.x509_svid_ttl ? String(e.x509_svid_ttl) : 'default';
    entry.jwtSvidTtl = e.jwt_svid_ttl ? String(e.jwt_svid_ttl) : 'default';
    entry.selectors = (e.selectors ?? []).map((s) => `${s.type}:${s.value}`);
    entry.federatesWith = (e.federates_with ?? []).map(normalizeTrustDomain);
    entry.dnsNames = e.dns_names ?? [];
    entry.downstream = e.downstream === true;
    entry.admin = e.admin === true;
    if (e.expires_at && String(e.expires_at) !== '0') entry.expiresAt = String(e.expires_at);
    if (e.hint) entry.hint = e.hint;
    if (!entry.spiffeId) throw new SpireOutputError(`entry ${entry.entryId} has no SPIFFE ID`);
    return entry;
  });
}

/** Parses `spire-server entry show` output (pretty or `-output json`); throws SpireOutputError. */
export function parseEntryShow(text: string): SpireEntry[] {
  const trimmed = text.trim();
  return trimmed.startsWith('{') ? parseJson(trimmed) : parsePretty(trimmed);
}

export interface MeshWorkload {
  namespace: string;
  serviceAccount: string;
  pod?: string;
  podUid?: string;
  /**
   * The service account the action deployed this workload with, when it deployed it: a pod
   * running as another one gets another SPIFFE ID, which the mesh's policies do not name.
   */
  deployedServiceAccount?: string;
  /** The workload (Deployment) the pod belongs to, for the reason. */
  owner?: string;
}

export interface IdentityEvidence {
  cluster: string;
  /** This cluster's SPIRE trust domain. */
  trustDomain: string;
  /** Every trust domain of the mesh, this one included. */
  meshTrustDomains: string[];
  /** Sidecar-injected workloads that must get an identity from this server. */
  workloads: MeshWorkload[];
  /** Raw `entry show` output, or entries parsed already. */
  entries: string | SpireEntry[];
  /** Trust domains this server holds a federated bundle of (`bundle list`); unknown if absent. */
  federatedBundles?: string[];
}

/**
 * Whether an entry's Kubernetes selectors can select this workload. Only the
 * selectors we can evaluate from the workload's facts are checked; others
 * (pod-label, container-name, ...) are assumed to match.
 */
function selectsWorkload(entry: SpireEntry, w: MeshWorkload): boolean {
  for (const selector of entry.selectors) {
    const [type, key, ...rest] = selector.split(':');
    if (type !== 'k8s') continue;
    const value = rest.join(':');
    if (key === 'ns' && value !== w.namespace) return false;
    if (key === 'sa' && value !== w.serviceAccount) return false;
    if (key === 'pod-uid' && w.podUid && value !== w.podUid) return false;
    if (key === 'pod-name' && w.pod && value !== w.pod) return false;
  }
  return true;
}

const workloadLabel = (w: MeshWorkload): string =>
  w.pod ? `${w.namespace}/${w.pod}` : `${w.namespace} (sa ${w.serviceAccount})`;

export function analyzeIdentities(evidence: IdentityEvidence): Check[] {
  const { cluster } = evidence;
  const ownTd = normalizeTrustDomain(evidence.trustDomain);
  const others = [...new Set(evidence.meshTrustDomains.map(normalizeTrustDomain))].filter(
    (td) => td !== ownTd,
  );
  let entries: SpireEntry[];
  try {
    entries =
      typeof evidence.entries === 'string' ? parseEntryShow(evidence.entries) : evidence.entries;
  } catch (err) {
    const reason = `cannot read spire-server entry show output: ${(err as Error).message}`;
    return evidence.workloads.map((w) => failed(`identity ${workloadLabel(w)}`, cluster, reason));
  }

  return evidence.workloads.map((w) => {
    const name = `identity ${workloadLabel(w)}`;
    const expectedId = workloadSpiffeId(ownTd, w.namespace, w.serviceAccount);
    const base = { expectedId, workload: w };
    if (w.deployedServiceAccount !== undefined && w.deployedServiceAccount !== w.serviceAccount) {
      const deployedId = workloadSpiffeId(ownTd, w.namespace, w.deployedServiceAccount);
      return failed(
        name,
        cluster,
        `runs as service account ${w.serviceAccount}, not ${w.deployedServiceAccount} as the action deployed ${w.owner ?? 'it'}: its identity is ${expectedId}, not ${deployedId}`,
        { ...base, deployedId },
      );
    }
    const exact = entries.filter((e) => e.spiffeId === expectedId);
    if (exact.length === 0) {
      const samePath = `/ns/${w.namespace}/sa/${w.serviceAccount}`;
      const elsewhere = entries.filter((e) => {
        const id = parseSpiffeId(e.spiffeId);
        return id !== undefined && id.path === samePath && id.trustDomain !== ownTd;
      });
      if (elsewhere.length > 0) {
        return failed(
          name,
          cluster,
          `entry in the wrong trust domain: ${elsewhere[0]?.spiffeId}, expected ${expectedId}`,
          { ...base, found: elsewhere.map((e) => e.spiffeId) },
        );
      }
      // SPIRE refuses an entry whose federatesWith names a trust domain it holds no bundle
      // for, so without that bundle no entry will ever come: say so, and do not wait for it.
      const held = evidence.federatedBundles?.map(normalizeTrustDomain);
      const unbundled = held ? others.filter((td) => !held.includes(td)) : [];
      if (unbundled.length > 0)
        return failed(
          name,
          cluster,
          `no registration entry for ${expectedId}: this server holds no bundle for ${unbundled.join(', ')}, and SPIRE refuses entries that federate with a trust domain it has no bundle of (the spire phase puts the bundles back)`,
          { ...base, entries: entries.length, unbundled },
        );
      return failed(name, cluster, `no registration entry for ${expectedId}`, {
        ...base,
        entries: entries.length,
        registrationPending: true,
      });
    }

    const selecting = exact.filter((e) => selectsWorkload(e, w));
    if (selecting.length === 0) {
      return failed(
        name,
        cluster,
        `entries for ${expectedId} exist but none selects ${workloadLabel(w)} (stale entries?)`,
        { ...base, selectors: exact.map((e) => e.selectors), registrationPending: true },
      );
    }
    // The agent may hand out any matching entry, so every one must federate.
    const lacking = selecting
      .map((e) => ({
        entryId: e.entryId,
        missing: others.filter((td) => !e.federatesWith.includes(td)),
      }))
      .filter((x) => x.missing.length > 0);
    if (lacking.length > 0) {
      const missing = [...new Set(lacking.flatMap((x) => x.missing))];
      return failed(
        name,
        cluster,
        `missing federatesWith ${missing.join(', ')} on entry ${lacking[0]?.entryId} for ${expectedId}`,
        { ...base, missing, entries: lacking },
      );
    }
    const federates = others.length ? `, federates with ${others.join(', ')}` : '';
    return passed(name, cluster, `${expectedId}${federates}`, {
      ...base,
      entryIds: selecting.map((e) => e.entryId),
    });
  });
}

/**
 * A failure that registration may still put right: the pod has no entry yet. The registrar
 * adds one within a moment of the pod; the SPIRE Controller Manager reconciles in batches,
 * seconds later. A wrong identity (service account, trust domain, federation) is not this.
 */
export const awaitsRegistration = (check: Check): boolean =>
  !check.ok && check.details?.registrationPending === true;
