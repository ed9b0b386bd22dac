// Runs istioctl against the run's private kubeconfig. Output is captured, never
// echoed: create-remote-secret prints a service account token.
import { dirname, join } from 'node:path';
import { getExecOutput } from '@actions/exec';
import { writePrivateFile } from '../config/kubeconfig.ts';
import type { InstalledIstioctl } from '../tools/istioctl.ts';
import type { K8sObject } from '../model/k8s-object.ts';
import { parseObjects } from '../yaml-docs.ts';
import { keptObjects } from '../tools/kept-objects.ts';
import { sha256Text } from '../tools/checksum.ts';

export class Istioctl {
  /**
   * @param binary resolves the binary once per run (download, checksum, cache)
   * @param kubeconfigFile the run's 0600 kubeconfig
   * @param runDir the run's 0700 directory, for the files given to `-f`
   */
  private readonly binary: () => Promise<InstalledIstioctl>;
  private readonly kubeconfigFile: string;
  private readonly runDir: string;

  constructor(binary: () => Promise<InstalledIstioctl>, kubeconfigFile: string, runDir: string) {
    this.binary = binary;
    this.kubeconfigFile = kubeconfigFile;
    this.runDir = runDir;
  }

  async run(args: string[]): Promise<string> {
    const result = await getExecOutput((await this.binary()).path, args, {
      silent: true,
      ignoreReturnCode: true,
      env: { ...process.env, KUBECONFIG: this.kubeconfigFile } as Record<string, string>,
    });
    if (result.exitCode !== 0) {
      const reason = (result.stderr.trim() || result.stdout.trim())
        .split('\n')
        .slice(-5)
        .join(' | ');
      throw new Error(
        `istioctl ${args.slice(0, 2).join(' ')} failed (exit ${result.exitCode}): ${reason}`,
      );
    }
    return result.stdout;
  }

  /** `istioctl manifest generate` of one IstioOperator (YAML), written as `name` in the run dir. */
  private async manifestGenerate(name: string, operatorYaml: string): Promise<string> {
    const file = writePrivateFile(this.runDir, name, operatorYaml);
    return this.run(['manifest', 'generate', '-f', file]);
  }

  /**
   * The objects `manifest generate` renders for an IstioOperator. It reads no
   * cluster, so the same binary (by sha256) and the same operator always give
   * the same objects: they are kept beside the binary in the tool cache, and a
   * re-run neither starts istioctl nor parses its megabyte of YAML again.
   */
  async generateObjects(name: string, operatorYaml: string): Promise<K8sObject[]> {
    const binary = await this.binary();
    const file = join(
      dirname(binary.path),
      'generated',
      `${sha256Text(`${binary.sha256}\n${operatorYaml}`)}.json`,
    );
    return keptObjects(file, async () =>
      parseObjects(
        await this.manifestGenerate(name, operatorYaml),
        `istioctl manifest generate (${name})`,
      ),
    );
  }
}
