import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { gitOutput, historyMemberNames, runGit, type GitLocation, type GitRunResult } from '@cairn/protocol/workspace';
import type { SnapshotHistory } from '../snapshot/extract-snapshot.ts';
import { under } from '../patch/layer-changes.ts';

/**
 * Attributes that override every `.gitattributes` the workspace holds (`$GIT_DIR/info/attributes`
 * wins over them): without it a runtime could write `* text eol=crlf` or `ident` and git would
 * store other bytes than the files hold, and the patch would not reproduce the workspace.
 */
export const neutralAttributes = '* !text !eol !crlf !ident !filter !working-tree-encoding !diff\n';

/** Makes an empty git directory (no hooks: `--template=`) whose attributes leave every file's bytes as they are. */
export async function initBaselineGit(git: { readonly gitDirectory: string; readonly workTree: string }): Promise<void> {
  await gitOutput(git, ['init', '--quiet', '--template=']);
  await mkdir(join(git.gitDirectory, 'info'), { recursive: true });
  await writeFile(join(git.gitDirectory, 'info', 'attributes'), neutralAttributes);
}

/**
 * Makes a snapshot's `history` the history of an empty git directory, before its baseline is
 * committed on top: the pack indexed with every object checked (`index-pack --strict`), the commits
 * it was cut at marked shallow, and its HEAD the commit the current branch points at. Throws
 * CAIRN_PAYLOAD_INVALID, naming `what`, for a pack git refuses or a HEAD it does not hold.
 */
export async function adoptHistory(git: { readonly gitDirectory: string; readonly workTree: string }, history: SnapshotHistory, what: string): Promise<void> {
  const refuse = (problem: string): never => {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `${what} carries a repository history git cannot use: ${problem}. Take the snapshot again, or without history.`,
      {
        path: historyMemberNames.pack,
      },
    );
  };
  const packs = join(git.gitDirectory, 'objects', 'pack');
  await mkdir(packs, { recursive: true });
  const pack = join(packs, 'pack-cairn-history.pack');
  await writeFile(pack, history.pack);
  if (history.shallow.length > 0) await writeFile(join(git.gitDirectory, 'shallow'), history.shallow.map((commit) => `${commit}\n`).join(''));
  const indexed = await runGit(git, ['index-pack', '--strict', pack]);
  if (indexed.exitCode !== 0) refuse(indexed.stderr.split('\n')[0] ?? `git index-pack exited with ${indexed.exitCode}`);
  const head = await runGit(git, ['cat-file', '-e', `${history.head}^{commit}`]);
  if (head.exitCode !== 0) refuse(`its HEAD ${history.head} is not a commit of its pack`);
  await gitOutput(git, ['update-ref', 'HEAD', history.head]);
}

/**
 * Stages `paths` (every path of the work tree when undefined; nothing when empty) and commits the
 * index (even when nothing changed, so there always is a new commit). Returns the commit id. The
 * commit's time and author are fixed (see runGit): one tree always gives one commit.
 */
export async function commitBaseline(git: GitLocation & { readonly workTree: string }, message: string, paths?: readonly Buffer[]): Promise<string> {
  const staged = await stageChanges(git, paths);
  if (staged.exitCode !== 0) throw new Error(`git add failed (exit ${staged.exitCode}): ${staged.stderr}`);
  await gitOutput(git, ['commit', '--quiet', '--allow-empty', '--no-verify', '-m', message]);
  const commit = (await gitOutput(git, ['rev-parse', 'HEAD'])).toString().trim();
  // Rewrites the index after the files it describes: entries written in the same instant as
  // their files count as "racily clean", and every later `git add` would read all of them again.
  if (paths === undefined) await runGit(git, ['update-index', '--refresh', '-q']);
  return commit;
}

/**
 * `git add --all` of the work tree, or of `changed` only (the paths a layer says may differ):
 * those gone from the work tree are dropped from the index first (`git rm --cached`, which, unlike
 * `git add`, does not fail on a path the index never had: a deleted file that was ignored). The
 * `exclude`d paths stay out. A path .gitignore ignores is left out without failing, as `git add
 * --all -- .` leaves it.
 */
export async function stageChanges(
  git: GitLocation & { readonly workTree: string },
  changed: readonly Buffer[] | undefined,
  exclude: readonly string[] = [],
): Promise<GitRunResult> {
  if (changed === undefined) return runGit(git, ['add', '--all', '--', '.', ...exclude.map((path) => `:(exclude,top,literal)${path}`)]);
  const present = await Promise.all(
    changed.map((path) =>
      lstat(under(git.workTree, path)).then(
        () => true,
        () => false,
      ),
    ),
  );
  const gone = changed.filter((_, index) => !present[index]);
  const there = changed.filter((_, index) => present[index]);
  if (gone.length > 0) {
    const removed = await runGit(git, ['rm', '--cached', '-r', '--quiet', '--ignore-unmatch', '--pathspec-from-file=-', '--pathspec-file-nul'], {
      input: literalPathspecs(gone),
    });
    if (removed.exitCode !== 0) return removed;
  }
  if (there.length === 0) return { exitCode: 0, stdout: Buffer.alloc(0), stderr: '', overflowed: false };
  const added = await runGit(git, ['add', '--all', '--pathspec-from-file=-', '--pathspec-file-nul'], { input: literalPathspecs(there, exclude) });
  return added.exitCode === 1 && added.stderr.startsWith('The following paths are ignored') ? { ...added, exitCode: 0 } : added;
}

/**
 * Pathspecs for `--pathspec-from-file --pathspec-file-nul`: each path literal (no glob, no magic
 * read from the name) and from the top of the work tree; `exclude` ones leave their paths out.
 */
export function literalPathspecs(paths: readonly Buffer[], exclude: readonly string[] = []): Buffer {
  const specs = [
    ...paths.map((path) => Buffer.concat([Buffer.from(':(top,literal)'), path])),
    ...exclude.map((path) => Buffer.from(`:(exclude,top,literal)${path}`)),
  ];
  return Buffer.concat(specs.flatMap((spec, index) => (index === 0 ? [spec] : [Buffer.from([0]), spec])));
}
