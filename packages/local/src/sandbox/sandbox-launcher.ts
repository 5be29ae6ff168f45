import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { CairnError } from '@cairn/protocol';
import type { CommandLauncher } from '@cairn/worker';
import { bubblewrapCommand, sandboxWorkspace, type SandboxLimits } from './bubblewrap-command.ts';
import { SandboxUids } from './sandbox-uids.ts';

export interface SandboxLauncherOptions {
  readonly limits: SandboxLimits;
  /** The uids sandboxes take in turn. */
  readonly uids: { readonly first: number; readonly count: number };
  readonly bwrap?: string;
}

/**
 * The command runtime's `launch` hook that puts each run in a bubblewrap sandbox of its own: the
 * next unprivileged uid is given the workspace (the attempt's folder, which also holds its git
 * directory, is only opened for passing through), and the command becomes the sandbox command
 * with a lifeline on fd 3, so the sandbox dies with the worker's process.
 */
export function createSandboxLauncher(options: SandboxLauncherOptions): CommandLauncher {
  const uids = new SandboxUids(options.uids.first, options.uids.count);
  return (argv, context) => {
    const uid = uids.next();
    const owned = spawnSync('/bin/chown', ['-R', `${uid}:${uid}`, context.workspace], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (owned.status !== 0) {
      throw new CairnError('CAIRN_EXECUTOR_START_FAILED', `Cannot give the workspace to the sandbox's uid ${uid}: ${owned.stderr.toString().trim()}. The local executor must run as root to use per-sandbox uids.`);
    }
    chmodSync(dirname(context.workspace), 0o711);
    // Inside, the workspace is /workspace: a HOME (or PWD) naming the host path would point nowhere.
    const env = Object.fromEntries(Object.entries(context.env).map(([name, value]) => [name, value === context.workspace ? sandboxWorkspace : value]));
    const { command, args } = bubblewrapCommand(argv, { workspace: context.workspace, env, network: context.network, limits: options.limits, uid, ...(options.bwrap ? { bwrap: options.bwrap } : {}) });
    return { command, args, lifeline: true };
  };
}
