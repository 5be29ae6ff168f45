import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { isCairnError } from '../errors/cairn-error.ts';
import { readTar } from './read-tar.ts';
import { snapshotWorkspace } from './snapshot-workspace.ts';
import { historyMemberNames } from './workspace-history.ts';

const made: string[] = [];
afterEach(() => {
  for (const folder of made.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A repository of `commits` commits, each changing `notes.txt`; returns it and its commit ids, newest first. */
function repository(commits: number): { directory: string; ids: string[] } {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-history-test-'));
  made.push(directory);
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', directory, '-c', 'user.name=u', '-c', 'user.email=u@example.invalid', ...args], {
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' },
    });
  git('init', '-q');
  for (let commit = 1; commit <= commits; commit++) {
    writeFileSync(join(directory, 'notes.txt'), `version ${commit}\n`);
    git('add', 'notes.txt');
    git('commit', '-qm', `commit ${commit}`);
  }
  return { directory, ids: commits === 0 ? [] : git('rev-list', 'HEAD').trim().split('\n') };
}

test('a snapshot carries the last commits of the repository at its end: its HEAD, where history is cut, and a pack; the same bytes every time', async () => {
  const { directory, ids } = repository(4);
  writeFileSync(join(directory, 'uncommitted.txt'), 'not yet committed\n');
  const snapshot = await snapshotWorkspace(directory, { history: 2 });
  const members = readTar(snapshot.bytes);
  expect(members.map((member) => member.path)).toEqual([
    'notes.txt',
    'uncommitted.txt',
    historyMemberNames.head,
    historyMemberNames.shallow,
    historyMemberNames.pack,
  ]);
  // The workspace's files are counted, not the history's members.
  expect(snapshot.entries).toBe(2);
  const text = (path: string) => Buffer.from((members.find((member) => member.path === path) as { content: Uint8Array }).content).toString('utf8');
  expect(text(historyMemberNames.head)).toBe(`${ids[0]}\n`);
  expect(text(historyMemberNames.shallow)).toBe(`${ids[1]}\n`);
  expect(text(historyMemberNames.pack).startsWith('PACK')).toBe(true);
  expect((await snapshotWorkspace(directory, { history: 2 })).digest).toBe(snapshot.digest);
  // All of a short history: nothing is cut.
  expect(
    Buffer.from(
      (
        readTar((await snapshotWorkspace(directory, { history: 10 })).bytes).find((member) => member.path === historyMemberNames.shallow) as {
          content: Uint8Array;
        }
      ).content,
    ).toString(),
  ).toBe('');
});

test('without history asked, outside a repository, in a folder below its top, or before its first commit, a snapshot carries none', async () => {
  const { directory } = repository(2);
  expect(readTar((await snapshotWorkspace(directory)).bytes).map((member) => member.path)).toEqual(['notes.txt']);
  const plain = mkdtempSync(join(tmpdir(), 'cairn-history-plain-'));
  made.push(plain);
  writeFileSync(join(plain, 'file.txt'), 'x\n');
  expect(readTar((await snapshotWorkspace(plain, { history: 5 })).bytes).map((member) => member.path)).toEqual(['file.txt']);
  mkdirSync(join(directory, 'sub'));
  writeFileSync(join(directory, 'sub/file.txt'), 'x\n');
  expect(readTar((await snapshotWorkspace(join(directory, 'sub'), { history: 5 })).bytes).map((member) => member.path)).toEqual(['file.txt']);
  const empty = repository(0).directory;
  writeFileSync(join(empty, 'file.txt'), 'x\n');
  expect(readTar((await snapshotWorkspace(empty, { history: 5 })).bytes).map((member) => member.path)).toEqual(['file.txt']);
});

test('a workspace holding .cairn-history itself is refused, naming the path', async () => {
  const plain = mkdtempSync(join(tmpdir(), 'cairn-history-reserved-'));
  made.push(plain);
  mkdirSync(join(plain, '.cairn-history'));
  writeFileSync(join(plain, '.cairn-history/pack'), 'mine');
  const error = await snapshotWorkspace(plain).catch((caught: unknown) => caught);
  expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
  expect((error as Error).message).toContain('".cairn-history/pack"');
  expect((error as Error).message).toContain("where a snapshot carries its repository's history");
});

test('in a shallow clone, the commit where the clone was cut is where the snapshot cuts history (its parent is not there to pack)', async () => {
  const { directory, ids } = repository(4);
  const clone = mkdtempSync(join(tmpdir(), 'cairn-history-shallow-'));
  made.push(clone);
  execFileSync('git', ['clone', '-q', '--depth=2', `file://${directory}`, clone], { env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' } });
  const members = readTar((await snapshotWorkspace(clone, { history: 10 })).bytes);
  const shallow = members.find((member) => member.path === historyMemberNames.shallow) as { content: Uint8Array };
  expect(Buffer.from(shallow.content).toString('utf8')).toBe(`${ids[1]}\n`);
});
