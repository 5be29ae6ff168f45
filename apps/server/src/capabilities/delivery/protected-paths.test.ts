// The paths a patch touches, read from patches real git made (renames, deletions, binary files,
// names git quotes), and the globs protected paths are written in.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { patchPaths } from './patch-paths.ts';
import { defaultProtectedPaths, globPattern, protectedPathsTouched } from './protected-paths.ts';

const directories: string[] = [];
afterAll(() => directories.forEach((directory) => rmSync(directory, { recursive: true, force: true })));

/** The `git diff --binary` of a repository holding `before`, changed by `change`, as Cairn captures a workspace's patch. */
function gitPatch(
  before: Record<string, string>,
  change: (write: (path: string, text: string | Buffer) => void, git: (...args: string[]) => void, chmod: (path: string, mode: number) => void) => void,
): string {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-patch-paths-'));
  directories.push(directory);
  const git = (...args: string[]) => execFileSync('git', ['-C', directory, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args]);
  const write = (path: string, text: string | Buffer) => {
    mkdirSync(dirname(join(directory, path)), { recursive: true });
    writeFileSync(join(directory, path), text);
  };
  git('init', '-q');
  for (const [path, text] of Object.entries(before)) write(path, text);
  git('add', '-A');
  git('commit', '-q', '--allow-empty', '-m', 'base');
  change(write, git, (path, mode) => chmodSync(join(directory, path), mode));
  git('add', '-A');
  return execFileSync('git', ['-C', directory, 'diff', '--cached', '--binary', '-M', 'HEAD'], { encoding: 'utf8' });
}

test('every path of a patch: both sides of a rename, a deletion, a binary file, a mode change, names git quotes', () => {
  const patch = gitPatch(
    { '.github/workflows/ci.yml': 'on: push\n'.repeat(20), 'gone.txt': 'x\n', 'run.sh': 'echo\n', 'keep.md': '-- a line that reads like a header\n' },
    (write, git, chmod) => {
      git('mv', '.github/workflows/ci.yml', 'ci-moved.yml');
      git('rm', '-q', 'gone.txt');
      chmod('run.sh', 0o755);
      write('logo.png', Buffer.from([0, 1, 2, 255, 0, 7]));
      write('.github/workflows/\u00e9t\u00e9 "x".yml', 'on: push\n');
      write('dir with space/a b.txt', 'spaced\n');
      // A removed line "-- a line" shows as "--- a line" inside the hunk: not a path.
      write('keep.md', 'changed\n');
    },
  );
  expect(patch).toContain('"b/.github/workflows/\\303\\251t\\303\\251 \\"x\\".yml"');
  expect(patchPaths(patch)).toEqual(
    [
      '.github/workflows/ci.yml',
      '.github/workflows/\u00e9t\u00e9 "x".yml',
      'ci-moved.yml',
      'dir with space/a b.txt',
      'gone.txt',
      'keep.md',
      'logo.png',
      'run.sh',
    ].sort(),
  );
});

test('the default protected paths catch CI configuration, moved away or quoted, and leave other files alone', () => {
  const patch = gitPatch({ '.github/workflows/ci.yml': 'on: push\n'.repeat(20), 'src/app.ts': 'x\n' }, (write, git) => {
    git('mv', '.github/workflows/ci.yml', 'moved.yml');
    write('.github/workflows/\u00e9vil.yml', 'on: push\n');
    write('.gitlab-ci.yml', 'job: {}\n');
    write('Jenkinsfile', 'pipeline {}\n');
    write('sub/Jenkinsfile', 'pipeline {}\n');
    write('.circleci/config.yml', 'version: 2\n');
    write('src/app.ts', 'y\n');
    write('.github/ISSUE_TEMPLATE/bug.md', 'bug\n');
  });
  expect(protectedPathsTouched(Buffer.from(patch), defaultProtectedPaths)).toEqual([
    '.circleci/config.yml',
    '.github/workflows/ci.yml',
    '.github/workflows/\u00e9vil.yml',
    '.gitlab-ci.yml',
    'Jenkinsfile',
  ]);
  expect(protectedPathsTouched(Buffer.from(patch), [])).toEqual([]);
  expect(protectedPathsTouched(Buffer.from(patch), ['**/Jenkinsfile'])).toEqual(['Jenkinsfile', 'sub/Jenkinsfile']);
});

test.each([
  ['.github/workflows/**', '.github/workflows/ci.yml', true],
  ['.github/workflows/**', '.github/workflows/nested/ci.yml', true],
  ['.github/workflows/**', '.github/workflows-old/ci.yml', false],
  ['.github/workflows/**', 'x/.github/workflows/ci.yml', false],
  ['deploy/*.sh', 'deploy/release.sh', true],
  ['deploy/*.sh', 'deploy/tools/x.sh', false],
  ['**/Jenkinsfile', 'Jenkinsfile', true],
  ['**/Jenkinsfile', 'a/b/Jenkinsfile', true],
  ['Jenkinsfile', 'a/Jenkinsfile', false],
  ['.travis.yml', '.travisXyml', false],
  ['azure-pipelines.y?ml', 'azure-pipelines.yaml', true],
  ['(x)+[y]', '(x)+[y]', true],
])('glob %s against %s: %s', (glob, path, matches) => {
  expect(globPattern(glob).test(path)).toBe(matches);
});
