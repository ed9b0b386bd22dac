// Post step: removes what the run created (its private directory, the
// manifests it wrote), also when the main step failed; never the user's files.
import * as core from '@actions/core';
import { pathsToClean, removeCreated } from './post-state.ts';

removeCreated(pathsToClean(), core);
