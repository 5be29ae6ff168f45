import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { CairnError } from '@cairn/protocol';

const run = promisify(execFile);
const commandEnvironment = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/**
 * The mount points of this process's mount namespace at or under `folder`, deepest first. Read from
 * /proc/self/mountinfo, not by comparing devices: a bind mount of a folder of the same file system
 * has its parent's device.
 */
export async function mountPointsUnder(folder: string): Promise<string[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = table
    .split('\n')
    // The fifth field is the mount point, with space, tab, newline and backslash as octal escapes.
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\([0-7]{3})/g, (_escape, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point === folder || point.startsWith(`${folder}/`));
  return [...new Set(points)].sort((one, other) => other.length - one.length);
}

/**
 * Unmounts what is mounted at `path` (every mount stacked there), lazily when a process still holds
 * a file in it; nothing when nothing is. Throws CAIRN_INTERNAL when it stays mounted.
 */
export async function unmountPath(path: string): Promise<void> {
  while ((await mountPointsUnder(path)).includes(path)) {
    // A process still holding a file there (none should: the sandbox is gone) only delays the release.
    const unmounted = await run('umount', [path], { env: commandEnvironment }).then(
      () => true,
      () =>
        run('umount', ['-l', path], { env: commandEnvironment }).then(
          () => true,
          (error: unknown) => error,
        ),
    );
    if (unmounted !== true)
      throw new CairnError('CAIRN_INTERNAL', `Cannot unmount ${path}: ${commandError(unmounted)}. Unmount it by hand (umount -l ${path}).`, { path });
  }
}

/** The first lines of a failed command's standard error, or its message. */
export function commandError(error: unknown): string {
  const stderr = (error as { stderr?: unknown }).stderr;
  const text = typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim() : (error as Error).message;
  return text.split('\n').slice(0, 3).join('; ');
}
