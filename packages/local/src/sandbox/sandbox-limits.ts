import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import type { SandboxLimits } from './bubblewrap-command.ts';

/**
 * How a sandbox's limits reach its command: shell statements for the shell inside the sandbox to
 * run just before it execs the command, or a `prlimit` to exec first. Either way the limits are
 * set as the sandbox's unprivileged uid (process limits do not bind root), soft and hard alike,
 * on the command alone: the shell's watchdog, forked before, is not limited, as before.
 *
 * The statements are dash's `ulimit` builtins, one resource each (dash takes one a call), which
 * save the sandbox a program (prlimit, ~1.5 ms of CPU a sandbox). Without an option naming soft
 * or hard, dash sets both, as `prlimit --cpu=N` does; a limit it cannot set makes it say why and
 * return 2 (it does not end the shell), and the shell then ends with 125 before the command
 * starts, as a failed prlimit ended it. Only where the shell inside is dash (other shells name the
 * process limit otherwise: bash's -p is the pipe size) and where every byte limit is a whole
 * number of dash's units (file size in 512-byte blocks, address space in KiB): otherwise prlimit,
 * so that the limit is exactly the one asked for.
 */
export function sandboxLimitSteps(limits: SandboxLimits, shell: string = sandboxShell()): { readonly statements: string; readonly prefix: string[] } {
  const flags: Array<readonly [option: string, ulimit: string, value: number, unit: number]> = [];
  if (limits.cpuSeconds !== undefined) flags.push(['--cpu', '-t', limits.cpuSeconds, 1]);
  if (limits.processes !== undefined) flags.push(['--nproc', '-p', limits.processes, 1]);
  if (limits.openFiles !== undefined) flags.push(['--nofile', '-n', limits.openFiles, 1]);
  if (limits.fileBytes !== undefined) flags.push(['--fsize', '-f', limits.fileBytes, 512]);
  if (limits.addressSpaceBytes !== undefined) flags.push(['--as', '-v', limits.addressSpaceBytes, 1024]);
  if (flags.length === 0) return { statements: '', prefix: [] };
  const whole = flags.every(([, , value, unit]) => Number.isSafeInteger(value) && value >= 0 && value % unit === 0);
  if (shell === 'dash' && whole) {
    return { statements: `${flags.map(([, ulimit, value, unit]) => `ulimit ${ulimit} ${value / unit}`).join(' && ')} || exit 125; `, prefix: [] };
  }
  return { statements: '', prefix: ['/usr/bin/prlimit', ...flags.map(([option, , value]) => `${option}=${value}`), '--'] };
}

let shellInside: string | undefined;

/**
 * The shell a sandbox's `/bin/sh` is: the host's /usr/bin/sh (the sandbox's /bin leads to its
 * read-only /usr), by the name of the program it leads to; '' where it cannot be read.
 */
export function sandboxShell(): string {
  if (shellInside === undefined) {
    try {
      shellInside = basename(realpathSync('/usr/bin/sh'));
    } catch {
      shellInside = '';
    }
  }
  return shellInside;
}
