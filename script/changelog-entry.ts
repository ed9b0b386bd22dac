// Prints the CHANGELOG.md section of one release (`## [1.2.3]` or `## 1.2.3`,
// with an optional date after it), for the release notes. Fails when there is
// none, so no release goes out without its entry.
import fs from 'node:fs';

export function changelogEntry(changelog: string, version: string): string | undefined {
  const lines = changelog.split('\n');
  const heading = new RegExp(`^## \\[?v?${version.replaceAll('.', '\\.')}\\]?(\\s|$)`);
  const start = lines.findIndex((l) => heading.test(l));
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  const body = lines
    .slice(start + 1, end < 0 ? undefined : end)
    .join('\n')
    .trim();
  return body === '' ? undefined : `${body}\n`;
}

if (process.argv[1] === import.meta.filename) {
  const version = (process.argv[2] ?? '').replace(/^v/, '');
  const entry = changelogEntry(fs.readFileSync('CHANGELOG.md', 'utf8'), version);
  if (!entry) {
    console.error(`CHANGELOG.md has no entry for ${version}: add a "## [${version}]" section.`);
    process.exit(1);
  }
  process.stdout.write(entry);
}
