// The release notes come from CHANGELOG.md: one version's section, or nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { changelogEntry } from '../script/changelog-entry.ts';
import { ROOT } from './helpers/run-action.ts';

const CHANGELOG = `# Changelog

## [Unreleased]

- next

## [1.2.0] - 2026-12-01

### Added

- N clusters

## 1.1.10

- a fix
`;

test('a release’s section, with or without brackets and a date, up to the next one', () => {
  assert.equal(changelogEntry(CHANGELOG, '1.2.0'), '### Added\n\n- N clusters\n');
  assert.equal(changelogEntry(CHANGELOG, '1.1.10'), '- a fix\n');
  assert.equal(changelogEntry(CHANGELOG, '1.1.1'), undefined, '1.1.1 is not 1.1.10');
  assert.equal(changelogEntry(CHANGELOG, '2.0.0'), undefined);
});

test('the package version has its changelog entry', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  assert.ok(changelogEntry(fs.readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8'), pkg.version));
});
