import { CairnError } from '@cairn/protocol';
import { runCommand } from '../fork-server/run-command.ts';
import { mountPointsUnder } from './unmount-under.ts';

const commandEnvironment = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/**
 * Unmounts what is mounted at `path` (every mount stacked there), lazily when a process still holds
 * a file in it; nothing when nothing is. Throws CAIRN_INTERNAL when it stays mounted. A mount that
 * someone else detached meanwhile (removeWithMounts, removing a folder while an attempt in it still
 * ends) fails both commands ("not mounted"): that is no failure.
 */
export async function unmountPath(path: string): Promise<void> {
  while (mountPointsUnder(path).includes(path)) {
    // A process still holding a file there (none should: the sandbox is gone) only delays the release.
    const unmounted = await runCommand('umount', [path], { env: commandEnvironment }).then(
      () => true,
      () =>
        runCommand('umount', ['-l', path], { env: commandEnvironment }).then(
          () => true,
          (error: unknown) => error,
        ),
    );
    if (unmounted !== true && mountPointsUnder(path).includes(path))
      throw new CairnError('CAIRN_INTERNAL', `Cannot unmount ${path}: ${commandError(unmounted)}. Unmount it by hand (umount -l ${path}).`, { path });
  }
}

/**
 * Unmounts the mounts at `first` (in that order) and then every other under `folder`, with one
 * `umount` for all of them: one process where an attempt would start one a mount. It stops at
 * nothing and reports nothing: whatever it leaves mounted, the careful unmounts after it (see
 * unmountPath) find and report.
 */
export async function unmountAtOnce(first: readonly string[], folder: string): Promise<void> {
  const mounted = mountPointsUnder(folder);
  const ordered = [...first.filter((path) => mounted.includes(path)), ...mounted.filter((path) => !first.includes(path))];
  if (ordered.length > 0) await runCommand('umount', ordered, { env: commandEnvironment }).catch(() => undefined);
}

/** The first lines of a failed command's standard error, or its message. */
export function commandError(error: unknown): string {
  const stderr = (error as { stderr?: unknown }).stderr;
  const text = typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim() : (error as Error).message;
  return text.split('\n').slice(0, 3).join('; ');
}
