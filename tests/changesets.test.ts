// The changesets are valid: `changeset version` (the real tool, in a throwaway copy of the
// workspace's package manifests and changesets) consumes them all into versions and changelogs, as
// it will when the packages are released. A changeset it refuses (one naming a private package the
// config ignores beside public ones, a package that does not exist, a bump that is not one) fails
// here, not on release day.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';
import { repositoryRoot } from './support/workspace.ts';

const run = promisify(execFile);
const copy = mkdtempSync(join(tmpdir(), 'cairn-changesets-'));
afterAll(() => rmSync(copy, { recursive: true, force: true }));

/** The workspace's package.json files as git knows them (never a dependency's). */
async function manifests(): Promise<string[]> {
  const { stdout } = await run('git', ['ls-files', 'package.json', '*/package.json'], { cwd: repositoryRoot });
  return stdout.split('\n').filter((path) => path !== '' && !path.includes('node_modules') && !path.includes('fixtures/'));
}

test('every changeset is consumed by `changeset version` into the versions and changelogs of public packages', { timeout: 120_000 }, async () => {
  for (const path of [...(await manifests()), 'pnpm-workspace.yaml']) {
    mkdirSync(dirname(join(copy, path)), { recursive: true });
    copyFileSync(join(repositoryRoot, path), join(copy, path));
  }
  const changesets = readdirSync(join(repositoryRoot, '.changeset')).filter((name) => name.endsWith('.md') && name !== 'README.md');
  expect(changesets.length).toBeGreaterThan(0);
  mkdirSync(join(copy, '.changeset'));
  for (const name of [...changesets, 'config.json']) copyFileSync(join(repositoryRoot, '.changeset', name), join(copy, '.changeset', name));

  const changeset = join(repositoryRoot, 'node_modules', '.bin', 'changeset');
  const outcome = await run(changeset, ['version'], { cwd: copy }).then(
    () => 'consumed',
    (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
  );
  expect(outcome).toBe('consumed');
  // Consumed, not skipped: what is left names only private packages (never versioned: the
  // dashboard's own notes), and a package a changeset names got a changelog.
  const privatePackages = new Set(
    (await manifests())
      .map((path) => JSON.parse(readFileSync(join(repositoryRoot, path), 'utf8')) as { name?: string; private?: boolean })
      .filter((manifest) => manifest.private === true && manifest.name !== undefined)
      .map((manifest) => manifest.name!),
  );
  const left = readdirSync(join(copy, '.changeset')).filter((name) => name.endsWith('.md') && name !== 'README.md');
  const publicNamesLeft = left.flatMap((name) =>
    [...(readFileSync(join(copy, '.changeset', name), 'utf8').split(/^---$/m)[1] ?? '').matchAll(/^['"]([^'"]+)['"]:/gm)]
      .map((match) => match[1]!)
      .filter((packageName) => !privatePackages.has(packageName))
      .map((packageName) => `${name}: ${packageName}`),
  );
  expect(publicNamesLeft).toEqual([]);
  expect(readFileSync(join(copy, 'packages', 'core', 'CHANGELOG.md'), 'utf8')).toMatch(/^# @cairn\/core\n/);
});
