import { join } from 'node:path';
import { adoptHistory, commitBaseline, initBaselineGit } from '../git/baseline-git.ts';
import { settleWorkspaceRepository } from '../git/workspace-repository.ts';
import { extractSnapshot } from './extract-snapshot.ts';

/**
 * A snapshot extracted once and committed: what a host lays each attempt's writable layer over
 * (see WorkspaceLayers). The tree is also a git checkout: its `.git` holds the baseline commit of
 * every snapshot file and an index whose stat data matches the extracted files, so `git status`
 * inside a workspace over it is clean and costs nothing to refresh.
 */
export interface SnapshotTree {
  /** The snapshot's files, and `.git`. Never written once built. */
  readonly tree: string;
  /** `<tree>/.git`: the baseline commit's objects and index, which attempts' own git directories borrow. */
  readonly gitDirectory: string;
  /** The commit of every snapshot file (fixed author and time: one snapshot, one commit id). */
  readonly baseline: string;
  /** Files and symlinks the snapshot holds. */
  readonly entries: number;
}

/** The message of the baseline commit, what `git log -1` shows inside a workspace. */
export const snapshotCommitMessage = 'cairn: the workspace snapshot';

/**
 * Extracts `bytes` (see extractSnapshot for what is refused) into `tree`, an existing empty
 * folder, and commits every file as the baseline in `<tree>/.git`, the workspace's repository: on
 * top of the history the snapshot carries, if any (its HEAD the baseline's parent).
 */
export async function buildSnapshotTree(bytes: Uint8Array, tree: string, what: string): Promise<SnapshotTree> {
  const { entries, history } = await extractSnapshot(bytes, tree, what);
  const git = { gitDirectory: join(tree, '.git'), workTree: tree };
  await initBaselineGit(git);
  if (history) await adoptHistory(git, history, what);
  const baseline = await commitBaseline(git, snapshotCommitMessage);
  await settleWorkspaceRepository(git.gitDirectory, tree);
  return { tree, gitDirectory: git.gitDirectory, baseline, entries };
}
