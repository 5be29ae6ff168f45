import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { isGitMetadataName } from '@cairn/protocol/workspace';

/** Something in the workspace that no patch may carry, found before git looks at it. */
export interface WorkspaceHazard {
  readonly rule: 'git-metadata' | 'submodule' | 'special-file';
  readonly path: string;
  readonly problem: string;
}

/**
 * Walks the workspace without following symlinks and returns the first hazard, if any. git
 * itself would skip these silently (a FIFO, a `.git` folder) or fail without naming the reason,
 * so they are looked for first: FIFOs, sockets and devices anywhere (ignored folders included),
 * `.git` (in any spelling a file system treats as `.git`) anywhere, and a nested `x/.git` folder,
 * which makes `x` a submodule.
 */
export async function scanWorkspace(workspace: string): Promise<WorkspaceHazard | undefined> {
  const entries: Dirent[] = await readdir(workspace, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    const path = relative(workspace, join(entry.parentPath, entry.name)).split(sep).join('/');
    if (isGitMetadataName(entry.name)) {
      const parent = path.slice(0, -entry.name.length - 1);
      if (entry.isDirectory() && parent !== '' && entry.name === '.git') {
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
    if (!entry.isFile() && !entry.isDirectory() && !entry.isSymbolicLink()) {
      const kind = entry.isFIFO()
        ? 'a FIFO'
        : entry.isSocket()
          ? 'a socket'
          : entry.isBlockDevice()
            ? 'a block device'
            : entry.isCharacterDevice()
              ? 'a character device'
              : 'not a file';
      return { rule: 'special-file', path, problem: `${JSON.stringify(path)} is ${kind}; a workspace may hold only files, directories and symlinks` };
    }
  }
  return undefined;
}
