// Objects parsed once and kept as JSON in the tool cache, next to what they were
// parsed from: YAML parsing of a release manifest or of istioctl's megabyte of
// output costs more than a run with nothing to change spends on anything else.
// The file name is the caller's key (a digest of the source), and the file holds
// a digest of its own objects: a kept file that does not match is parsed anew.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { K8sObject } from '../model/k8s-object.ts';
import { sha256Text } from './checksum.ts';

export async function keptObjects(
  file: string,
  parse: () => Promise<K8sObject[]>,
): Promise<K8sObject[]> {
  const kept = await readKept(file);
  if (kept) return kept;
  const objects = await parse();
  // Best effort: a cache that cannot be written only costs the next run this one's time.
  await mkdir(dirname(file), { recursive: true })
    .then(async () => {
      const partial = `${file}.${process.pid}.partial`;
      await writeFile(
        partial,
        JSON.stringify({ digest: sha256Text(JSON.stringify(objects)), objects }),
      );
      await rename(partial, file);
    })
    .catch(() => undefined);
  return objects;
}

async function readKept(file: string): Promise<K8sObject[] | undefined> {
  try {
    const { digest, objects } = JSON.parse(await readFile(file, 'utf8')) as {
      digest?: string;
      objects?: unknown;
    };
    return Array.isArray(objects) && digest === sha256Text(JSON.stringify(objects))
      ? (objects as K8sObject[])
      : undefined;
  } catch {
    return undefined;
  }
}
