import { readdirSync, readFileSync } from 'node:fs';

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
  const stat = liveProcessStat(process.pid);
  if (!stat) throw new Error('cannot read /proc/self: the local executor needs Linux /proc');
  return { pid: process.pid, startTicks: stat.startTicks, bootId: bootId() };
}

/** Whether the process `identity` names is still running. */
export function isRunning(identity: ProcessIdentity): boolean {
  const now = liveProcessStat(identity.pid);
  return now !== undefined && now.startTicks === identity.startTicks && bootId() === identity.bootId;
}

/**
 * The process groups that have a running member, read from /proc once. A supervisor leads a group
 * of its own, and what it started there (git, writing in its work folder) outlives a SIGKILL of it
 * for a moment. Members that have exited but were never reaped (zombies, whose new parent may never
 * wait for them) do not count. A group id stays taken while it has members, so no newer process
 * leads one of that id meanwhile; one that does later (its pid reused) is taken for a leftover,
 * which only delays a sweep.
 */
export function liveProcessGroups(): Set<number> {
  const groups = new Set<number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = liveProcessStat(Number(name));
    if (stat) groups.add(stat.processGroup);
  }
  return groups;
}

interface ProcessStat {
  readonly startTicks: number;
  readonly processGroup: number;
}

/** What /proc/<pid>/stat says of a process that has not exited; undefined for one gone or exited. */
function liveProcessStat(pid: number): ProcessStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last
  // ')', from field 3 (state) on.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // A zombie has exited; but a killed process's first thread turns zombie while its other threads
  // are still exiting (one may be finishing a write in its work folder): only a zombie left alone
  // (num_threads 1) is done with everything.
  if (fields[0] === 'Z' && fields[17] === '1') return undefined;
  return { startTicks: Number(fields[19]), processGroup: Number(fields[2]) };
}

function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}
