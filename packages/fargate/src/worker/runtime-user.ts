import { chmodSync, chownSync, lchownSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CommandLauncher } from '@cairn/worker';

/** The image's unprivileged user (`cairn`, uid and gid 1000): the runtime's user when the worker runs as root. */
export const imageRuntimeUser = { uid: 1000, gid: 1000 } as const;

/** The folder, beside the workspace in the attempt's folder, that is the runtime's TMPDIR. */
export const runtimeTemporaryFolderName = 'runtime-tmp';

/** Whether the runtime runs as a user of its own: the launch hook that makes it so, or why it does not. */
export type RuntimeUserSeparation = { readonly separated: true; readonly launch: CommandLauncher } | { readonly separated: false; readonly reason: string };

/**
 * How a Fargate task keeps its runtime (the agent CLI, the command) away from the worker: the
 * worker runs as root (the task definition's user 0, with only the capabilities this needs) and
 * starts every runtime process as `user`, so the runtime cannot read the worker's
 * `/proc/<pid>/environ` (the task role's credentials endpoint ECS put there) nor trace its memory
 * (the opened secrets, the gateway credential): both need the same user or CAP_SYS_PTRACE.
 *
 * Before the attempt's first process starts, the workspace becomes the user's (every entry,
 * symlinks themselves not followed), the attempt's folder lets the user pass to it but not list or
 * change it, and the user gets a temporary folder of its own beside it (TMPDIR): /tmp is the
 * worker's. The worker reads what the
 * runtime left, files of mode 0600 too, by CAP_DAC_OVERRIDE. The environment stays the one the
 * worker built for the runtime: nothing of the worker's own is in it.
 *
 * A worker that is not root (the image run as its own user 1000, a worker run by hand) cannot
 * change user: the runtime then runs as the worker's user, as before, and the answer says why.
 */
export function separateRuntimeUser(
  workerUid: number | undefined,
  user: { readonly uid: number; readonly gid: number } = imageRuntimeUser,
): RuntimeUserSeparation {
  if (workerUid !== 0) {
    return {
      separated: false,
      reason:
        `the worker runs as uid ${workerUid ?? 'unknown'}, not root, so its runtime runs as the same user and can read the worker's process ` +
        `(its environment, with the task role's credentials endpoint, and its memory). Run the container as user 0 with the capabilities ` +
        `the Cairn stack's task definition keeps (deploy/aws) to run the runtime as uid ${user.uid}.`,
    };
  }
  // Given once, before the attempt's first runtime process: a walk made while a process of the user
  // runs could be led out of the workspace by a folder swapped for a symlink between two steps.
  const given = new Set<string>();
  const launch: CommandLauncher = (argv, context) => {
    const attemptFolder = dirname(context.workspace);
    const temporary = join(attemptFolder, runtimeTemporaryFolderName);
    if (!given.has(context.workspace)) {
      chmodSync(attemptFolder, 0o711);
      chownTree(context.workspace, user);
      mkdirSync(temporary, { mode: 0o700 });
      chownSync(temporary, user.uid, user.gid);
      given.add(context.workspace);
    }
    return { command: argv[0]!, args: argv.slice(1), env: { ...context.env, TMPDIR: temporary }, uid: user.uid, gid: user.gid };
  };
  return { separated: true, launch };
}

/** Makes `path` and everything under it `user`'s, changing symlinks themselves (never what they point at). */
function chownTree(path: string, user: { readonly uid: number; readonly gid: number }): void {
  lchownSync(path, user.uid, user.gid);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) chownTree(child, user);
    else lchownSync(child, user.uid, user.gid);
  }
}
