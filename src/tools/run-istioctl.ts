// Runs istioctl against the run's private kubeconfig. Output is captured, never
// echoed: create-remote-secret prints a service account token.
import { getExecOutput } from '@actions/exec';

export async function runIstioctl(
  binary: string,
  kubeconfigFile: string,
  args: string[],
): Promise<string> {
  const result = await getExecOutput(binary, args, {
    silent: true,
    ignoreReturnCode: true,
    env: { ...process.env, KUBECONFIG: kubeconfigFile } as Record<string, string>,
  });
  if (result.exitCode !== 0) {
    const reason = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-5).join(' | ');
    throw new Error(
      `istioctl ${args.slice(0, 2).join(' ')} failed (exit ${result.exitCode}): ${reason}`,
    );
  }
  return result.stdout;
}
