// The demo's `--stat`: lines added and removed per file, counted inside hunks only, compared with
// what git itself says about the same patch.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { patchStat } from './patch-stat.ts';

test('counts match git diff --numstat for an edit, an addition, a deletion, a binary file and a line that starts with "-- "', () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-stat-'));
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
        cwd: directory,
        encoding: 'utf8',
        env: { PATH: process.env['PATH'], GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
      });
    git('init', '--quiet');
    writeFileSync(join(directory, 'edited.txt'), 'one\n-- two\nthree\n');
    writeFileSync(join(directory, 'gone.txt'), 'a\nb\n');
    git('add', '--all');
    git('commit', '--quiet', '-m', 'base');
    writeFileSync(join(directory, 'edited.txt'), 'one\nthree\nfour\n');
    unlinkSync(join(directory, 'gone.txt'));
    writeFileSync(join(directory, 'new file.txt'), 'x\ny\nz\n');
    writeFileSync(join(directory, 'image.bin'), Buffer.from([0, 1, 2, 255, 0, 3]));
    git('add', '--all');
    const stat = patchStat(git('diff', '--cached', '--binary'));
    const numstat = git('diff', '--cached', '--numstat')
      .trim()
      .split('\n')
      .map((line) => line.split('\t'));
    expect(stat.map((file) => [file.binary ? '-' : String(file.added), file.binary ? '-' : String(file.removed), file.path])).toEqual(numstat);
    expect(stat.find((file) => file.path === 'edited.txt')).toEqual({ path: 'edited.txt', added: 1, removed: 1, binary: false });
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('no patch, no files', () => {
  expect(patchStat('')).toEqual([]);
});
