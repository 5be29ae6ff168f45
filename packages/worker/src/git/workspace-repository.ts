import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { gitOutput, runGit } from '@cairn/protocol/workspace';

/**
 * The workspace's own git repository, `.git` at its top: the runtime's to use (status, diff, log,
 * even commit), never the worker's, which keeps its git directory outside the workspace and reads
 * nothing of this one. What the runtime does to it never enters the patch.
 */
export const workspaceRepositoryName = '.git';

/**
 * Settings of the workspace's repository. Its files belong to the sandbox's uid, not to the uid
 * that built its index, and were handed over (a change of ctime): without these, the first
 * `git status` inside would read every file again to find nothing changed. mtime and size still
 * tell an edit apart; the worker's own captures never rely on them.
 */
const workspaceRepositorySettings = [
  ['core.checkStat', 'minimal'],
  ['core.trustctime', 'false'],
] as const;

/** Gives a workspace's repository its settings (see workspaceRepositorySettings). */
export async function settleWorkspaceRepository(gitDirectory: string, workTree: string): Promise<void> {
  const git = { gitDirectory, workTree };
  for (const [name, value] of workspaceRepositorySettings) await gitOutput(git, ['config', name, value]);
  // A copy of the worker's git directory names its host work tree; at the top of it, none is needed.
  await runGit(git, ['config', '--unset-all', 'core.worktree']);
}

/**
 * Copies the worker's baseline git directory (the snapshot's commit, its objects and index) into
 * the workspace as its repository, for a workspace extracted on its own: one laid over a
 * snapshot tree has it from there already.
 */
export async function copyWorkspaceRepository(git: { readonly gitDirectory: string; readonly workTree: string }): Promise<void> {
  const target = join(git.workTree, workspaceRepositoryName);
  await cp(git.gitDirectory, target, { recursive: true, errorOnExist: true, force: false });
  await settleWorkspaceRepository(target, git.workTree);
}
