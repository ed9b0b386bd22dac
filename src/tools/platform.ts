// Istio publishes istioctl archives per <os>-<arch>; these are the four a GitHub runner can be.
const OS_NAMES: Readonly<Record<string, string>> = {
  linux: 'linux',
  darwin: 'osx',
};
const ARCH_NAMES: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
};

/** The `<os>-<arch>` suffix of Istio's release archives for this machine. */
export function istioPlatform(
  platform: string = process.platform,
  arch: string = process.arch,
): string {
  const os = OS_NAMES[platform];
  const cpu = ARCH_NAMES[arch];
  if (!os || !cpu) {
    throw new Error(
      `istioctl is not available for platform "${platform}" with architecture "${arch}": ` +
        'Istio publishes linux-amd64, linux-arm64, osx-amd64 and osx-arm64 only. ' +
        'Run this action on a Linux or macOS runner with an x64 or arm64 CPU.',
    );
  }
  return `${os}-${cpu}`;
}
