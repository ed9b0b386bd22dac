// Issue 7, item 19: the kind end-to-end workflow, read from its YAML. Stricter
// than workflows.test.ts on the points that hide failures or drift silently:
// every background job awaited by its PID, inotify limits raised before the
// clusters start, node images pinned by digest to a Kubernetes minor that the
// Istio under test supports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ROOT } from './helpers/run-action.ts';
import { PROFILE_TABLE, PROFILES, type ProfileName } from '../src/config/profiles.ts';

interface Step {
  name?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
}
interface Job {
  env?: Record<string, string>;
  steps?: Step[];
}

const dir = path.join(ROOT, '.github', 'workflows');
const jobs = fs
  .readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .flatMap((file) =>
    Object.entries(
      (YAML.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { jobs: Record<string, Job> })
        .jobs,
    ).map(([id, job]) => ({ where: `${file}#${id}`, job })),
  );
const scriptLines = (step: Step): string[] => (step.run ?? '').split('\n');
const kindJobs = jobs.filter(({ job }) =>
  (job.steps ?? []).some((s) => /kind create cluster/.test(s.run ?? '')),
);

test('there is a kind job to check', () => assert.ok(kindJobs.length > 0));

test('no wait without a PID: `wait`, `wait;`, `wait || …` all return 0 whatever failed', () => {
  for (const { where, job } of jobs)
    for (const step of job.steps ?? [])
      for (const line of scriptLines(step))
        assert.doesNotMatch(line, /(^|[;&|]\s*)wait\s*($|[;&|)#])/, `${where}: ${line.trim()}`);
});

test('every cluster created in the background is awaited by its own PID', () => {
  for (const { where, job } of kindJobs)
    for (const step of job.steps ?? []) {
      const lines = scriptLines(step);
      lines.forEach((line, i) => {
        if (!/kind create cluster.*&\s*$/.test(line)) return;
        const pid = /^\s*(\w+)=\$!\s*$/.exec(lines[i + 1] ?? '')?.[1];
        assert.ok(pid, `${where}: the PID of '${line.trim()}' is kept on the next line`);
        assert.ok(
          lines.some((l) => new RegExp(`^\\s*wait "?\\$\\{?${pid}\\}?"?\\s*$`).test(l)),
          `${where}: wait "$${pid}"`,
        );
      });
    }
});

test('inotify limits are raised before more than one cluster starts (kind known issues)', () => {
  for (const { where, job } of kindJobs) {
    const steps = job.steps ?? [];
    const creates = steps.findIndex((s) => /kind create cluster/.test(s.run ?? ''));
    const before = steps
      .slice(0, creates + 1)
      .map((s) => s.run ?? '')
      .join('\n');
    assert.match(before, /sysctl -w fs\.inotify\.max_user_watches=524288/, where);
    assert.match(before, /sysctl -w fs\.inotify\.max_user_instances=512/, where);
  }
});

test('one kind job per profile, each on a node image pinned by digest to a Kubernetes minor the profile supports', () => {
  const profiles = new Set<string>();
  for (const { where, job } of kindJobs) {
    const include = (job as { strategy?: { matrix?: { include?: Record<string, string>[] } } })
      .strategy?.matrix?.include;
    assert.ok(include?.length, `${where}: a matrix over the profiles`);
    for (const entry of include) {
      const profile = entry.profile as ProfileName;
      assert.ok(PROFILES.includes(profile), `${where}: ${entry.profile} is a profile`);
      profiles.add(profile);
      const m = /^kindest\/node:v1\.(\d+)\.\d+@sha256:[0-9a-f]{64}$/.exec(
        entry['node-image'] ?? '',
      );
      assert.ok(m, `${where}: ${entry['node-image']} is pinned by digest`);
      const { min, max } = PROFILE_TABLE[profile].kubernetes;
      const minor = Number(m[1]);
      assert.ok(
        minor >= Number(min.split('.')[1]) && minor <= Number(max.split('.')[1]),
        `${where}: Kubernetes 1.${minor} with profile ${profile} (${min}-${max})`,
      );
    }
    const text = JSON.stringify(job);
    assert.match(text, /--image \\"\$KIND_NODE_IMAGE\\"/, where);
    assert.match(text, /KIND_NODE_IMAGE":"\$\{\{ matrix\.node-image \}\}/, where);
    for (const step of (job.steps ?? []).filter((s) => s.uses === './'))
      assert.equal(
        (step as { with?: Record<string, string> }).with?.profile,
        '${{ matrix.profile }}',
        `${where}: ${step.name ?? 'the action'} runs the matrix's profile`,
      );
  }
  assert.deepEqual([...profiles].sort(), [...PROFILES].sort());
});
