import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { CairnError } from '../errors/cairn-error.ts';
import { runGit } from './run-git.ts';
import { historyFolderName } from './workspace-history.ts';
import { isGitMetadataName, workspacePathProblem } from './workspace-path.ts';

/**
 * The paths a snapshot of `directory` holds, in the order it holds them (by their UTF-8 bytes):
 * inside a git work tree what `git ls-files --cached --others --exclude-standard` lists, elsewhere
 * every file and symlink except `.git` folders. Every path is checked before any is read, so a
 * path the worker would refuse is CAIRN_PAYLOAD_INVALID before a byte is written.
 * `insideWorkTree`, when the caller asked git already (gitWorkTreeFacts), saves asking again.
 */
export async function listWorkspacePaths(directory: string, insideWorkTree?: boolean | undefined): Promise<string[]> {
  await assertWorkspaceDirectory(directory);
  const paths = withoutRepeats(sortedByUtf8((await gitListedPaths(directory, insideWorkTree)) ?? (await walkedPaths(directory))));
  for (const path of paths) {
    const problem = workspacePathProblem(path);
    if (problem !== undefined) refuseWorkspacePath(directory, path, problem);
    if (path === historyFolderName || path.startsWith(`${historyFolderName}/`))
      refuseWorkspacePath(directory, path, `lies in ${historyFolderName}, where a snapshot carries its repository's history`);
  }
  return paths;
}

/** CAIRN_PAYLOAD_INVALID for a path of `directory` a snapshot cannot hold, saying what to do. */
export function refuseWorkspacePath(directory: string, path: string, problem: string): never {
  throw new CairnError(
    'CAIRN_PAYLOAD_INVALID',
    `Cannot snapshot ${JSON.stringify(path)} in ${directory}: it ${problem}. Remove it or ignore it in .gitignore.`,
    {
      path,
    },
  );
}

/** CAIRN_PAYLOAD_INVALID unless `directory` is a folder this process can look into. */
export async function assertWorkspaceDirectory(directory: string): Promise<void> {
  const stats = await stat(directory).catch((error: NodeJS.ErrnoException) => {
    const reason = error.code === 'ENOENT' ? 'there is no such folder' : error.code === 'EACCES' ? 'it cannot be read (permission denied)' : error.message;
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `Cannot snapshot the workspace ${directory}: ${reason}. Name the folder to run over (--workspace <dir>).`, {
      path: directory,
      cause: error,
    });
  });
  if (!stats.isDirectory())
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Cannot snapshot the workspace ${directory}: it is not a folder. Name the folder to run over (--workspace <dir>).`,
      { path: directory },
    );
}

/** The paths git lists, or null when `directory` is not inside a git work tree (asked unless `insideWorkTree` says). */
async function gitListedPaths(directory: string, insideWorkTree: boolean | undefined): Promise<string[] | null> {
  if (insideWorkTree === false) return null;
  if (insideWorkTree === undefined) {
    const inside = await runGit({ cwd: directory }, ['rev-parse', '--is-inside-work-tree']);
    if (inside.exitCode !== 0 || inside.stdout.toString().trim() !== 'true') return null;
  }
  const listed = await runGit({ cwd: directory }, ['ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  if (listed.exitCode !== 0) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Could not list the files of the git work tree ${directory}: ${listed.stderr}. Check the repository with \`git status\`.`,
      { path: directory },
    );
  }
  // A path may be listed twice (an unmerged one, once per stage): listWorkspacePaths drops the
  // repeats once the listing is sorted.
  return listed.stdout.toString('utf8').split('\0');
}

async function walkedPaths(directory: string): Promise<string[]> {
  const paths: string[] = [];
  const visit = async (folder: string): Promise<void> => {
    const children: Dirent[] = await readdir(folder, { withFileTypes: true });
    for (const child of children) {
      if (isGitMetadataName(child.name)) continue;
      const path = join(folder, child.name);
      if (child.isDirectory()) await visit(path);
      else paths.push(relative(directory, path).split(sep).join('/'));
    }
  };
  await visit(directory);
  return paths;
}

/**
 * `paths` in the order of their UTF-8 bytes. Each is encoded once, not once per comparison: a
 * 40,000-file workspace made 1.3 million buffers to sort otherwise.
 */
function sortedByUtf8(paths: string[]): string[] {
  // Below U+D800, UTF-16 code units order strings as their UTF-8 bytes do: the plain sort, no buffers.
  if (!paths.some((path) => /[\ud800-\uffff]/.test(path))) return paths.sort();
  const encoded = paths.map((path) => ({ path, bytes: Buffer.from(path) }));
  encoded.sort((left, right) => Buffer.compare(left.bytes, right.bytes));
  return encoded.map(({ path }) => path);
}

/** Sorted `paths` without repeats or empty names (git ends its listing with a NUL), in place: one pass, no set of 40,000 strings. */
function withoutRepeats(paths: string[]): string[] {
  let kept = 0;
  for (let at = 0; at < paths.length; at++) {
    const path = paths[at]!;
    if (path !== '' && (kept === 0 || paths[kept - 1] !== path)) paths[kept++] = path;
  }
  paths.length = kept;
  return paths;
}
