import { lstat, readdir } from 'node:fs/promises';
import { workspaceRepositoryName } from '../git/workspace-repository.ts';

/** An overlay's three folders: the upper (writable) layer, the lower (the snapshot tree) and the merged view. */
export interface OverlayFolders {
  readonly upper: string;
  readonly lower: string;
  readonly merged: string;
}

const slash = Buffer.from('/');
const repository = Buffer.from(workspaceRepositoryName);

/**
 * The workspace-relative paths (as bytes: a name need not be UTF-8) an overlay's upper layer says
 * may differ from its lower one, found by walking the upper layer alone (work in proportion to the
 * change, not the tree):
 * - every file and symlink it holds (written, copied up by a change of content or mode, or new);
 * - every whiteout (a character device 0:0: the lower path was deleted);
 * - every folder it holds that the lower one does not have as a folder (new, or in place of a
 *   file), whole: what is under it is new too;
 * - every folder that hides the lower one's content (an "opaque" folder: one deleted and made
 *   again), whole: the lower paths under it are gone. The kernel marks those with an xattr, which
 *   Node cannot read; here one is told by a lower name missing from the merged folder with no
 *   whiteout for it, which is what opaque means to a reader.
 * Other folders (those that only lead to a change) are walked into. The workspace's own repository
 * at the top is left out. The overlay must be mounted with `redirect_dir=off` (a folder renamed is
 * then copied, and both its names are in the upper layer).
 */
export async function layerChanges(folders: OverlayFolders): Promise<Buffer[]> {
  const changed: Buffer[] = [];
  const visit = async (path: Buffer): Promise<void> => {
    for (const entry of await readdir(under(folders.upper, path), { withFileTypes: true, encoding: 'buffer' })) {
      const child = path.length === 0 ? entry.name : Buffer.concat([path, slash, entry.name]);
      if (child.equals(repository)) continue;
      if (!entry.isDirectory()) {
        changed.push(child);
        continue;
      }
      const below = await lstat(under(folders.lower, child)).catch(() => undefined);
      if (below === undefined || !below.isDirectory() || (await hidesLower(folders, child))) changed.push(child);
      else await visit(child);
    }
  };
  await visit(Buffer.alloc(0));
  return changed;
}

/** `root/path` as bytes. */
export function under(root: string, path: Buffer): Buffer {
  return path.length === 0 ? Buffer.from(root) : Buffer.concat([Buffer.from(root), slash, path]);
}

/** Whether the merged folder at `path` misses a name the lower one has, for which the upper holds no whiteout. */
async function hidesLower(folders: OverlayFolders, path: Buffer): Promise<boolean> {
  const [lower, merged, upper] = await Promise.all(
    [folders.lower, folders.merged, folders.upper].map(
      async (root) => new Set((await readdir(under(root, path), { encoding: 'buffer' }).catch(() => [])).map((name) => name.toString('latin1'))),
    ),
  );
  for (const name of lower!) if (!merged!.has(name) && !upper!.has(name)) return true;
  return false;
}
