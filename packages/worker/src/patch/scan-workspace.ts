import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { isGitMetadataName } from '@cairn/protocol/workspace';
import { workspaceRepositoryName } from '../git/workspace-repository.ts';
import { under } from './layer-changes.ts';

/** Something in the workspace that no patch may carry, found before git looks at it. */
export interface WorkspaceHazard {
  readonly rule: 'git-metadata' | 'submodule' | 'special-file';
  readonly path: string;
  readonly problem: string;
}

/** What a directory entry or an lstat says about a file's type (both have these). */
type FileType = Pick<Dirent, 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isSocket' | 'isBlockDevice' | 'isCharacterDevice'>;

/** One file found: its workspace-relative path, its name and its type. */
interface Found {
  readonly path: string;
  readonly name: string;
  readonly type: FileType;
}

/**
 * Walks the workspace without following symlinks and returns the first hazard, if any. git
 * itself would skip these silently (a FIFO, a `.git` folder) or fail without naming the reason,
 * so they are looked for first: FIFOs, sockets and devices anywhere (ignored folders included),
 * `.git` (in any spelling a file system treats as `.git`) anywhere but the workspace's own
 * repository at its top, and a nested `x/.git` folder, which makes `x` a submodule. With `paths`
 * (the only ones that may have changed), only those and what lies under them are walked.
 */
export async function scanWorkspace(workspace: string, paths?: readonly Buffer[]): Promise<WorkspaceHazard | undefined> {
  const found = paths === undefined ? await walk(workspace, workspace) : await walkPaths(workspace, paths);
  for (const { path, name, type } of found) {
    if (path === workspaceRepositoryName || path.startsWith(`${workspaceRepositoryName}/`)) continue;
    if (isGitMetadataName(name)) {
      const parent = path.slice(0, -name.length - 1);
      if (type.isDirectory() && parent !== '' && name === '.git') {
        return {
          rule: 'submodule',
          path: parent,
          problem: `${JSON.stringify(parent)} is an embedded git repository (it holds a .git folder); submodules are refused`,
        };
      }
      return {
        rule: 'git-metadata',
        path,
        problem: `${JSON.stringify(path)} is git metadata, which the worker keeps outside the workspace and no patch may write`,
      };
    }
    if (!type.isFile() && !type.isDirectory() && !type.isSymbolicLink()) {
      const kind = type.isFIFO()
        ? 'a FIFO'
        : type.isSocket()
          ? 'a socket'
          : type.isBlockDevice()
            ? 'a block device'
            : type.isCharacterDevice()
              ? 'a character device'
              : 'not a file';
      return { rule: 'special-file', path, problem: `${JSON.stringify(path)} is ${kind}; a workspace may hold only files, directories and symlinks` };
    }
  }
  return undefined;
}

/** Everything under `folder`. */
async function walk(workspace: string, folder: string): Promise<Found[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.map((entry) => ({ path: relative(workspace, join(entry.parentPath, entry.name)).split(sep).join('/'), name: entry.name, type: entry }));
}

/** What is at `paths` (those still there) and, for folders, everything under them. */
async function walkPaths(workspace: string, paths: readonly Buffer[]): Promise<Found[]> {
  const found = await Promise.all(
    paths.map(async (bytes): Promise<Found[]> => {
      const type = await lstat(under(workspace, bytes)).catch(() => undefined);
      if (type === undefined) return [];
      const path = bytes.toString('utf8');
      const itself = { path, name: basename(path), type };
      return type.isDirectory() ? [itself, ...(await walk(workspace, join(workspace, path)))] : [itself];
    }),
  );
  return found.flat();
}
