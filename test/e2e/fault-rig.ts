// The fault tests' rig (instance 3): up before a file's tests with nothing of the action on it,
// down after (kept with MESH_RIG_KEEP=1).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { FAULTS_RIG, startIsolatedRig, type IsolatedRig } from '../rig/isolated-rig.ts';
import { explain, runAction } from '../../__tests__/helpers/run-action.ts';

/**
 * Registers the hooks; the rig is there once `before` has run. A file's own set-up and
 * tear-down go through here: top-level hooks of node:test do not wait for one another.
 */
export function faultRig(
  setUp: (rig: IsolatedRig) => Promise<void> = async () => {},
  tearDown: () => Promise<void> = async () => {},
): () => IsolatedRig {
  let rig: IsolatedRig | undefined;
  before(async () => {
    rig = await startIsolatedRig(FAULTS_RIG);
    await phase(rig, 'cleanup');
    await setUp(rig);
  });
  after(async () => {
    await tearDown();
    await rig?.stop();
  });
  return () => {
    assert.ok(rig, 'the fault rig is up');
    return rig;
  };
}

async function phase(rig: IsolatedRig, name: string): Promise<void> {
  const r = await runAction(rig.inputs(name));
  assert.equal(r.code, 0, explain(r));
}

/** What a clean `all` leaves (to compare a re-run with), the rig emptied again by `cleanup`. */
export async function cleanAllState(rig: IsolatedRig): Promise<Record<string, string[]>> {
  await phase(rig, 'all');
  const clean = await rig.installed();
  await phase(rig, 'cleanup');
  return clean;
}
