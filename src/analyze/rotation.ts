// Whether `rotate` did what it says: the cacerts secret holds a new CA
// certificate, and istiod logged loading it.
import { X509Certificate } from 'node:crypto';
import { failed, passed, type Check } from '../model/check.ts';

/**
 * A serial after its label: `SN: b5f3…` (istiod, Go's `%x`), `serial=0B5F…`,
 * `Serial Number: 0b:5f:…` (openssl), `serial 0x…` or decimal. The lookbehind
 * skips a `SERIALNUMBER=` attribute inside a quoted DN, which names no certificate.
 */
const SERIAL_TOKEN =
  /(?<![",+])\b(?:SN|serial(?:[ _-]?number)?)\s*[:=]?\s*(0x[0-9a-f]+|[0-9a-f]{2}(?::[0-9a-f]{2})+|[0-9a-f]+)(?![0-9a-z])/gi;

/** Every number a labelled serial token can mean: all digits may be hex (`%x`) or decimal. */
function tokenValues(token: string): bigint[] {
  const hex = BigInt(`0x${token.replace(/^0x/i, '').replace(/:/g, '')}`);
  return /^[0-9]+$/.test(token) && BigInt(token) !== hex ? [hex, BigInt(token)] : [hex];
}

/** The serial numbers a log names, in order, as numbers (so leading zeros and case do not matter). */
export function serialNumbersIn(log: string): bigint[] {
  return [...log.matchAll(SERIAL_TOKEN)].flatMap((m) => tokenValues(m[1] as string));
}

/**
 * Whether a log names the certificate with serial `serialHex` (as
 * X509Certificate.serialNumber gives it: whole bytes, so about one serial in
 * 16 starts with a zero that istiod's `SN: %x` leaves out). Only labelled
 * tokens count: a bare number elsewhere (`Added 1 certs`) is no serial.
 */
export function logNamesSerial(log: string, serialHex: string): boolean {
  const wanted = BigInt(`0x${serialHex}`);
  return serialNumbersIn(log).includes(wanted);
}

export interface RotationEvidence {
  cluster: string;
  /** `tls.crt` of the cacerts secret (base64), before and after the re-issue. */
  oldCertificate?: string;
  newCertificate?: string;
  /** istiod's log lines since the re-issue began, one string per pod. */
  istiodLogs: string[];
}

const serialOf = (base64Pem: string | undefined): string | undefined =>
  base64Pem ? new X509Certificate(Buffer.from(base64Pem, 'base64')).serialNumber : undefined;

export function analyzeRotation(e: RotationEvidence): {
  oldSerial?: string;
  newSerial?: string;
  checks: Check[];
} {
  const oldSerial = serialOf(e.oldCertificate);
  const newSerial = serialOf(e.newCertificate);
  const rotated =
    newSerial && newSerial !== oldSerial
      ? passed('rotation', e.cluster, `cacerts re-issued with serial ${newSerial}`)
      : failed('rotation', e.cluster, 'the cacerts secret still holds the old certificate');
  const picked = newSerial !== undefined && e.istiodLogs.some((l) => logNamesSerial(l, newSerial));
  const pickup = picked
    ? passed('istiod-pickup', e.cluster, `istiod logged the new CA certificate ${newSerial}`)
    : failed(
        'istiod-pickup',
        e.cluster,
        `istiod did not log the new CA certificate ${newSerial ?? ''} (is AUTO_RELOAD_PLUGIN_CERTS enabled?)`,
      );
  return {
    ...(oldSerial ? { oldSerial } : {}),
    ...(newSerial ? { newSerial } : {}),
    checks: [rotated, pickup],
  };
}
