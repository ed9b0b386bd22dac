// What each `profile` installs: one table of pins, each with where it was read.
// A version input overrides one pin; `stackProblem` refuses a combination that
// cannot work before any cluster is touched.
import semver from 'semver';

export const PROFILES = ['seed', 'current'] as const;
export type ProfileName = (typeof PROFILES)[number];

/**
 * Who turns pods into SPIRE registration entries: the seed's k8s-workload-registrar
 * (shipped up to SPIRE 1.5.x) or the SPIRE Controller Manager beside each server.
 */
export type Registration = 'k8s-workload-registrar' | 'spire-controller-manager';

export interface Pins {
  istio: string;
  spire: string;
  certManager: string;
  /** Empty in the registrar's profile, which runs none. */
  spireControllerManager: string;
  spiffeCsiDriver: string;
  /** The kubernetes-csi node-driver-registrar beside the CSI driver. */
  nodeDriverRegistrar: string;
}

export interface Profile {
  pins: Pins;
  registration: Registration;
  /** The Kubernetes minors every pinned component supports, as upstream documents them. */
  kubernetes: { min: string; max: string };
  /** Where each pin was read, for the README and for whoever bumps it. */
  sources: Record<keyof Pins | 'kubernetes', string>;
}

export const PROFILE_TABLE: Record<ProfileName, Profile> = {
  seed: {
    pins: {
      istio: '1.22.1',
      spire: '1.5.1',
      certManager: 'v1.15.1',
      spireControllerManager: '',
      spiffeCsiDriver: '0.2.3',
      nodeDriverRegistrar: 'v2.8.0',
    },
    registration: 'k8s-workload-registrar',
    kubernetes: { min: '1.27', max: '1.30' },
    sources: {
      istio: 'the seed (AWS sample) pins 1.22.1',
      spire: 'the seed pins 1.5.1; the registrar shipped up to 1.5.4 (spiffe/spire #3853)',
      certManager: 'the seed pins v1.15.1',
      spireControllerManager: 'none: the seed registers workloads with the k8s-workload-registrar',
      spiffeCsiDriver: 'spiffe/spiffe-csi 0.2.3, the first release with its image on ghcr.io',
      nodeDriverRegistrar: 'kubernetes-csi node-driver-registrar v2.8.0 (registry.k8s.io)',
      kubernetes: 'istio.io supportStatus.yml: 1.22 supports Kubernetes 1.27-1.30',
    },
  },
  current: {
    pins: {
      istio: '1.31.1',
      spire: '1.15.3',
      certManager: 'v1.21.2',
      spireControllerManager: '0.7.0',
      spiffeCsiDriver: '0.2.7',
      nodeDriverRegistrar: 'v2.15.0',
    },
    registration: 'spire-controller-manager',
    kubernetes: { min: '1.33', max: '1.36' },
    sources: {
      istio: 'istio.io/latest/news/releases/1.31.x: 1.31.0 (2026-08-31), 1.31.1',
      spire:
        'spiffe/helm-charts-hardened chart spire 0.30.0 (2026-08-21) ships SPIRE 1.15.3; the Go module proxy serves v1.15.3',
      certManager:
        'cert-manager.io releases: v1.21.0 (2026-07-08) supports Kubernetes 1.33-1.36; v1.21.2',
      spireControllerManager:
        'spiffe/helm-charts-hardened chart spire 0.30.0 ships spire-controller-manager 0.7.0',
      spiffeCsiDriver:
        'spiffe/helm-charts-hardened chart spire 0.30.0 ships spiffe-csi-driver 0.2.7',
      nodeDriverRegistrar:
        'spiffe/helm-charts-hardened chart spire 0.30.0 ships csi-node-driver-registrar v2.15.0',
      kubernetes:
        'cert-manager 1.21 supports 1.33-1.36; Istio 1.30 supports 1.32-1.36 (supportStatus.yml), 1.31 at least that',
    },
  },
};

/** Istio reads SPIFFE identities from SPIRE from 1.14, and cert-manager's tls.crt/ca.crt `cacerts` from 1.15. */
export const ISTIO_MIN = '1.15.0';
/** The k8s-workload-registrar was removed in SPIRE 1.6 (spiffe/spire #3853). */
export const SPIRE_WITHOUT_REGISTRAR = '1.6.0';
/** Istio injects sidecars as native sidecars (initContainers with restartPolicy Always) from 1.27. */
export const ISTIO_NATIVE_SIDECARS = '1.27.0';

export interface Stack {
  profile: ProfileName;
  registration: Registration;
  pins: Pins;
}

/** Which input to blame and what to say, or undefined when the stack can work. */
export function stackProblem(stack: Stack): { input: string; message: string } | undefined {
  const { istio, spire } = stack.pins;
  if (semver.lt(istio, ISTIO_MIN))
    return {
      input: 'istio-version',
      message: `${istio} is too old: Istio supports SPIRE with cert-manager's cacerts from ${ISTIO_MIN}.`,
    };
  if (stack.registration === 'k8s-workload-registrar' && !semver.lt(spire, SPIRE_WITHOUT_REGISTRAR))
    return {
      input: 'spire-version',
      message: `${spire} has no k8s-workload-registrar, which profile '${stack.profile}' registers workloads with (it was removed in SPIRE 1.6). Use a 1.5.x version such as 1.5.1, or set profile: current for the SPIRE Controller Manager.`,
    };
  if (
    stack.registration === 'spire-controller-manager' &&
    semver.lt(spire, SPIRE_WITHOUT_REGISTRAR)
  )
    return {
      input: 'spire-version',
      message: `${spire} is older than 1.6: profile '${stack.profile}' registers workloads with the SPIRE Controller Manager, tested with SPIRE 1.15. Use a 1.6 or newer version such as ${PROFILE_TABLE.current.pins.spire}, or set profile: seed for the k8s-workload-registrar.`,
    };
  return undefined;
}
