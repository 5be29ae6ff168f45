import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@cairn/core';
import { removeWithMounts } from '@cairn/local';

/** The folder of a runner process's attempts in the work root is this and its pid; those of processes that are gone are swept. */
export const ownFolderPrefix = 'cairn-runner-';

/**
 * Removes the attempt folders of runners that are gone (their attempts died with them), with the
 * file systems mounted in them, which a runner killed mid-attempt could not unmount.
 */
export function sweepGoneRunners(workRoot: string, logger: Logger | undefined): void {
  for (const name of readdirSync(workRoot)) {
    if (!name.startsWith(ownFolderPrefix)) continue;
    const pid = Number(name.slice(ownFolderPrefix.length));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
    try {
      removeWithMounts(join(workRoot, name));
    } catch (error) {
      logger?.warn({ directory: join(workRoot, name), error: (error as Error).message }, 'could not remove the work folder of a runner that is gone');
    }
  }
}

/** Whether a process of this pid lives (a pid reused by another process keeps a gone runner's folder: only left, never wrongly removed). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
