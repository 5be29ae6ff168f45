import { readFileSync } from 'node:fs';

/**
 * A process as it can be recognised later, by another process: its pid, when it started (in
 * clock ticks since boot, from /proc) and which boot that was. A pid alone is reused; all three
 * together name one process.
 */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTicks: number;
  readonly bootId: string;
}

/** This process. */
export function currentProcess(): ProcessIdentity {
  const identity = processIdentity(process.pid);
  if (!identity) throw new Error('cannot read /proc/self: the local executor needs Linux /proc');
  return identity;
}

/** Whether the process `identity` names is still running. */
export function isRunning(identity: ProcessIdentity): boolean {
  const now = processIdentity(identity.pid);
  return now !== undefined && now.startTicks === identity.startTicks && now.bootId === identity.bootId;
}

function processIdentity(pid: number): ProcessIdentity | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined;
    return { pid, startTicks: Number(fields[19]), bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() };
  } catch {
    return undefined;
  }
}
