import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

/**
 * The mount points of this process's mount namespace at or under `folder`, deepest first, read from
 * /proc/self/mountinfo (not by comparing devices: a bind mount of a folder of the same file system
 * has its parent's device); none where it cannot be read.
 */
export function mountPointsUnder(folder: string): string[] {
  let table: string;
  try {
    table = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const inside = table
    .split('\n')
    // The fifth field is the mount point, with space, tab, newline and backslash as octal escapes.
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\([0-7]{3})/g, (_escape, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point === folder || point.startsWith(`${folder}/`));
  return [...new Set(inside)].sort((one, other) => other.length - one.length);
}

/**
 * Unmounts (lazily: whatever still holds a file there lets go later) every mount at or under
 * `folder` in this process's mount namespace, deepest first, so that the folder can be removed: an
 * attempt's workspace and /tmp (AttemptVolumes) whose process died before it could unmount them.
 * A loop device goes with its mount. Returns the mount points it unmounted.
 */
export function unmountUnder(folder: string): string[] {
  const unmounted: string[] = [];
  for (const point of mountPointsUnder(folder)) {
    const result = spawnSync('umount', ['-l', point], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    if (result.status === 0) unmounted.push(point);
  }
  return unmounted;
}

/**
 * Removes `folder` and everything in it, first detaching every mount under it. A task still
 * starting may mount its workspace after the mounts were read (tasks outlive the server that
 * started them): removal that meets such a mount detaches again and retries, for up to about two
 * seconds. It meets a busy mount point (EBUSY), or, inside a layered workspace's read-only base
 * (an idmapped bind, read-only so that a removal that missed it cannot reach the shared tree), a
 * read-only file system (EROFS). Such a task may also still write its last files there as the
 * folder goes: a folder emptied and then written to again is not empty (ENOTEMPTY), and is retried
 * too.
 */
export function removeWithMounts(folder: string): void {
  for (let attempt = 1; ; attempt++) {
    unmountUnder(folder);
    try {
      rmSync(folder, { recursive: true, force: true });
      return;
    } catch (error) {
      if (!(metAMount(error) || metAWriter(error)) || attempt === 40) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}

/** Whether a removal failed on a mount under the folder. Node's recursive removal may report it without its code ("Unknown error: Read-only file system"). */
function metAMount(error: unknown): boolean {
  const { code, message } = error as NodeJS.ErrnoException;
  return code === 'EBUSY' || code === 'EROFS' || /resource busy|read-only file system/i.test(message);
}

/** Whether a removal failed because something wrote into a folder it had just emptied. */
function metAWriter(error: unknown): boolean {
  const { code, message } = error as NodeJS.ErrnoException;
  return code === 'ENOTEMPTY' || /directory not empty/i.test(message);
}
