import type { Stats } from 'node:fs';
import type { WorkspaceIndex } from './workspace-index.ts';

/**
 * How close to the index's start a member's last change may be and still be trusted, in ms.
 * File times are kept at a granularity (2 s on FAT, 1 s on ext3 and some network file systems,
 * a clock tick of a few ms on ext4) and read from a coarse clock that lags this process's: a
 * change made in the same tick as the read that preceded it leaves the same times behind, so
 * only a member last changed well before the index started can be told unchanged by its times.
 */
export const racyWindowMs = 2_000;

/**
 * Whether member `position` of `index` still holds what the index says, told from `stats` alone:
 * its metadata is unchanged, and it is not racily clean (git's rule). A member changed (mtime)
 * or whose inode changed (ctime) so close to the index's start that a later change in the same
 * timestamp tick would have left the same times is not trusted, however equal its metadata:
 * its content is read, every time, until it has aged past the window in a later index.
 */
export function isIndexedClean(index: WorkspaceIndex, position: number, stats: Stats): boolean {
  const mtimeMs = index.mtimesMs[position]!;
  const ctimeMs = index.ctimesMs[position]!;
  if (
    index.sizes[position] !== stats.size ||
    mtimeMs !== stats.mtimeMs ||
    ctimeMs !== stats.ctimeMs ||
    index.inodes[position] !== stats.ino ||
    index.modes[position] !== stats.mode
  )
    return false;
  const trustedBefore = index.startedAtMs - racyWindowMs;
  return mtimeMs < trustedBefore && ctimeMs < trustedBefore;
}
