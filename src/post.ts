// Post step: removes every file the run wrote (the private kubeconfig
// directory, the manifests), also when the main step failed.
import fs from 'node:fs';
import * as core from '@actions/core';
import { pathsToClean } from './post-state.ts';

for (const p of pathsToClean()) {
  try {
    fs.rmSync(p, { recursive: true, force: true });
    core.info(`removed ${p}`);
  } catch (error) {
    core.warning(`could not remove ${p}: ${(error as Error).message}`);
  }
}
