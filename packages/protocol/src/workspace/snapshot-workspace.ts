import type { Dirent } from 'node:fs';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Digest } from '@cairn/core';
import { CairnError } from '../errors/cairn-error.ts';
import { sha256Digest } from '../json/digest.ts';
import { runGit } from './run-git.ts';
import type { TarEntry } from './tar-entry.ts';
import { isGitMetadataName, workspacePathProblem } from './workspace-path.ts';
import { writeTar } from './write-tar.ts';

/** A workspace snapshot, ready to store at `blobKey(digest)`. */
export interface WorkspaceSnapshot {
  /** A deterministic tar; empty (zero bytes) for a workspace without files. */
  readonly bytes: Uint8Array;
  readonly digest: Digest;
  /** Files and symlinks it holds. */
  readonly entries: number;
}

const parallelReads = 64;

/**
 * Snapshots a directory as the deterministic tar the worker extracts. Inside a git work tree it
 * holds what `git ls-files --cached --others --exclude-standard` lists (tracked and untracked
 * files as they are on disk now, minus ignored ones; submodules and deleted files are left out),
 * read with the repository's own ignore files and no global git configuration, so that two
 * machines snapshot one checkout alike. Elsewhere it holds every file and symlink except `.git`
 * folders. Empty directories are not kept (git does not track them). Refused with
 * CAIRN_PAYLOAD_INVALID: a directory that does not exist or is not one, FIFOs, sockets and
 * devices, and paths the worker would refuse.
 */
export async function snapshotWorkspace(directory: string): Promise<WorkspaceSnapshot> {
  await assertDirectory(directory);
  const paths = (await gitListedPaths(directory)) ?? (await walkedPaths(directory));
  paths.sort(compareUtf8);
  const entries: (TarEntry | undefined)[] = [];
  for (let start = 0; start < paths.length; start += parallelReads) {
    entries.push(...(await Promise.all(paths.slice(start, start + parallelReads).map((path) => readEntry(directory, path)))));
  }
  const kept = entries.filter((entry) => entry !== undefined);
  const bytes = writeTar(kept);
  return { bytes, digest: sha256Digest(bytes), entries: kept.length };
}

async function assertDirectory(directory: string): Promise<void> {
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

/** The paths git lists, or null when `directory` is not inside a git work tree. */
async function gitListedPaths(directory: string): Promise<string[] | null> {
  const inside = await runGit({ cwd: directory }, ['rev-parse', '--is-inside-work-tree']);
  if (inside.exitCode !== 0 || inside.stdout.toString().trim() !== 'true') return null;
  const listed = await runGit({ cwd: directory }, ['ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  if (listed.exitCode !== 0) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Could not list the files of the git work tree ${directory}: ${listed.stderr}. Check the repository with \`git status\`.`,
      { path: directory },
    );
  }
  return [
    ...new Set(
      listed.stdout
        .toString('utf8')
        .split('\0')
        .filter((path) => path !== ''),
    ),
  ];
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

/** One listed path as a tar entry; undefined for what is not there any more or is a submodule. */
async function readEntry(directory: string, path: string): Promise<TarEntry | undefined> {
  const refuse = (problem: string): never => {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Cannot snapshot ${JSON.stringify(path)} in ${directory}: it ${problem}. Remove it or ignore it in .gitignore.`,
      { path },
    );
  };
  const problem = workspacePathProblem(path);
  if (problem !== undefined) refuse(problem);
  const absolute = join(directory, path);
  const stats = await lstat(absolute).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (stats === undefined || stats.isDirectory()) return undefined;
  if (stats.isSymbolicLink()) return { kind: 'symlink', path, target: await readlink(absolute) };
  if (!stats.isFile()) refuse('is not a regular file, directory or symlink (a FIFO, socket or device)');
  return { kind: 'file', path, executable: (stats.mode & 0o100) !== 0, content: await readFile(absolute) };
}

function compareUtf8(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left), Buffer.from(right));
}
