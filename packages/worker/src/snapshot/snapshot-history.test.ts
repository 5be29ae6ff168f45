import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCairnError } from '@cairn/protocol';
import { historyMemberNames, readTar, snapshotWorkspace, writeTar, type TarEntry } from '@cairn/protocol/workspace';
import { describe, expect, test } from 'vitest';
import { AttemptWorkspace } from '../git/attempt-workspace.ts';
import { git, temporaryDirectory } from '../testing/worker.test-support.ts';
import { buildSnapshotTree, snapshotCommitMessage } from './snapshot-tree.ts';

/** A repository of four commits and an uncommitted change, snapshotted with its last two commits. */
async function snapshotWithHistory(): Promise<{ bytes: Uint8Array; ids: string[] }> {
  const directory = temporaryDirectory('cairn-history-source-');
  git(directory, ['init', '-q']);
  for (let commit = 1; commit <= 4; commit++) {
    writeFileSync(join(directory, 'notes.txt'), `version ${commit}\n`);
    git(directory, ['add', 'notes.txt']);
    git(directory, ['commit', '-qm', `commit ${commit}`]);
  }
  writeFileSync(join(directory, 'notes.txt'), 'not yet committed\n');
  const ids = git(directory, ['rev-list', 'HEAD']).trim().split('\n');
  return { bytes: (await snapshotWorkspace(directory, { history: 2 })).bytes, ids };
}

/** What `git log` says in a workspace's own repository. */
function log(repository: { gitDirectory: string; workTree: string }): string[] {
  return git(repository.workTree, ['--git-dir', repository.gitDirectory, 'log', '--format=%s']).trim().split('\n');
}

describe('a snapshot with history', () => {
  test("over a tree (the cache's) and extracted alike, the workspace's repository holds the last commits, the snapshot committed on top; git status is clean", async () => {
    const { bytes, ids } = await snapshotWithHistory();
    const tree = join(temporaryDirectory(), 'tree');
    mkdirSync(tree);
    const built = await buildSnapshotTree(bytes, tree, 'the test snapshot');
    const extracted = await AttemptWorkspace.prepare({ root: temporaryDirectory(), snapshot: bytes });
    try {
      for (const repository of [
        { gitDirectory: built.gitDirectory, workTree: tree },
        { gitDirectory: join(extracted.workspace, '.git'), workTree: extracted.workspace },
      ]) {
        expect(log(repository)).toEqual([snapshotCommitMessage, 'commit 4', 'commit 3']);
        expect(git(repository.workTree, ['--git-dir', repository.gitDirectory, 'rev-parse', 'HEAD^'])).toBe(`${ids[0]}\n`);
        expect(git(repository.workTree, ['--git-dir', repository.gitDirectory, 'diff', '--stat', 'HEAD^', 'HEAD'])).toContain('notes.txt');
        expect(git(repository.workTree, ['--git-dir', repository.gitDirectory, 'status', '--porcelain'])).toBe('');
      }
      // The history's members are no files of the workspace; the baseline is the same commit both ways.
      expect(built.entries).toBe(1);
      expect(extracted.baseline).toBe(built.baseline);
    } finally {
      await extracted.remove();
    }
  });

  test('a history git cannot use (a damaged pack, a HEAD it does not hold) is refused, naming the snapshot', async () => {
    const { bytes } = await snapshotWithHistory();
    const members = readTar(bytes).filter((member): member is TarEntry => member.kind !== 'directory');
    const rebuilt = (change: (member: TarEntry) => TarEntry) => writeTar(members.map(change));
    const damaged = rebuilt((member) => {
      if (member.path !== historyMemberNames.pack || member.kind !== 'file') return member;
      const content = Buffer.from(member.content);
      content[content.length - 30] = content[content.length - 30]! ^ 0xff;
      return { ...member, content };
    });
    const strangeHead = rebuilt((member) =>
      member.path === historyMemberNames.head && member.kind === 'file' ? { ...member, content: Buffer.from(`${'1'.repeat(40)}\n`) } : member,
    );
    for (const snapshot of [damaged, strangeHead]) {
      const tree = join(temporaryDirectory(), 'tree');
      mkdirSync(tree);
      const error = await buildSnapshotTree(snapshot, tree, 'the test snapshot').catch((caught: unknown) => caught);
      expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
      expect((error as Error).message).toMatch(/^the test snapshot carries a repository history git cannot use/);
    }
  });
});
