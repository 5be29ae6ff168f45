import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Free space under which a disk the server writes to counts as full: the same "nearly full" the
 * worker waits out (a subprocess such as git does not always say why its write failed).
 */
export const nearlyFullBytes = 1024 * 1024;

/** Whether the disks under the server's folders have room, as `/readyz` reports it. */
export type DiskRoomStatus = { readonly full: false } | { readonly full: true; readonly reason: string; readonly since: string };

/**
 * Looks at the disks under the folders where the server and its tasks write (the data directory, the
 * engine's database, local storage, the local executor's work root): full when one of them has less
 * than 1 MiB free.
 *
 * Why the server looks itself rather than wait for a write to fail: a task that ends while the disk
 * is full waits for room in its supervisor before anything reaches the engine (its result, then its
 * exit), and a waiting process has nowhere on that disk to say so. The engine notices only when one
 * of its own writes fails, which depends on what happened to free a few KiB first (an attempt's
 * folder removed at its end can let a result through, and then the engine's commit too). The room
 * itself is the condition they all wait on, and one statfs per folder reads it.
 */
export class DiskRoom {
  readonly #folders: readonly string[];
  #since: string | undefined;

  constructor(folders: readonly string[]) {
    this.#folders = [...new Set(folders)];
  }

  status(): DiskRoomStatus {
    for (const folder of this.#folders) {
      const freeBytes = freeBytesUnder(folder);
      if (freeBytes === undefined || freeBytes >= nearlyFullBytes) continue;
      this.#since ??= new Date().toISOString();
      return {
        full: true,
        reason: `storage full: the disk under ${folder} has ${freeBytes} bytes free (less than 1 MiB), so what ends now cannot be recorded; it is once there is room`,
        since: this.#since,
      };
    }
    this.#since = undefined;
    return { full: false };
  }
}

/** Free space for an unprivileged writer on the disk of `folder`, or of its nearest existing parent (one not made yet). */
function freeBytesUnder(folder: string): number | undefined {
  for (let path = folder; ; path = dirname(path)) {
    try {
      const stats = statfsSync(path);
      return stats.bavail * stats.bsize;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(path) === path) return undefined;
    }
  }
}
