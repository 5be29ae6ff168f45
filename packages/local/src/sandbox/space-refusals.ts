import { TraceInstance } from './trace-instance.ts';

/**
 * Syscalls that answer ENOSPC for something other than a file system's room, by architecture:
 * unshare, clone and clone3 (a namespace count's limit: bubblewrap's --disable-userns is checked
 * that way in every sandbox), inotify_add_watch and fanotify_mark (watch limits), epoll_ctl
 * (max_user_watches), add_key, request_key and keyctl (key quotas). Elsewhere nothing is counted.
 */
export const notDiskSyscalls: Partial<Record<NodeJS.Architecture, readonly number[]>> = { x64: [272, 56, 435, 254, 301, 233, 248, 249, 250] };

/**
 * Every write a sandbox's processes were refused for lack of room (ENOSPC, EDQUOT), counted by the
 * kernel as it answers the syscall: an instance of its own in tracefs per attempt, recording
 * `raw_syscalls:sys_exit` with that answer for the processes whose pids are written to its
 * `set_event_pid` (the sandbox's reaper, before it starts anything) and, through `event-fork`,
 * for every process they start. The kernel removes a pid from it when that process exits.
 *
 * Why tracing and not looking at the volumes: a look (statfs every 250 ms) misses an item that fills
 * a volume and frees it between two looks, and neither ext4 without a journal nor a tmpfs keeps a
 * count of the writes it refused or a high-water mark of its use (a sparse image's allocated blocks
 * are not one: ext4's delayed allocation never writes what is deleted before write-back). The
 * syscall's answer is the one place every refusal passes. What it misses: a write that never is a
 * syscall of the sandbox's (a store into a shared mapping of a file, refused with SIGBUS; io_uring's
 * own threads).
 *
 * Where tracefs cannot be used (not root, no tracefs, a kernel without syscall events, an
 * architecture whose syscall numbers are not listed here) `open` answers undefined and nothing is
 * counted.
 */
export class SpaceRefusals {
  readonly #trace: TraceInstance;

  private constructor(trace: TraceInstance) {
    this.#trace = trace;
  }

  /** The file a process writes its pid into (append) to have it and what it starts watched. */
  get pidFile(): string {
    return this.#trace.pidFile;
  }

  /** A new instance named after `name` (unique among this process's); undefined where tracing is unavailable. */
  static async open(name: string): Promise<SpaceRefusals | undefined> {
    const excludedIds = notDiskSyscalls[process.arch];
    if (excludedIds === undefined) return undefined;
    const excluded = excludedIds.map((id) => ` && id != ${id}`).join('');
    // A small buffer: only refusals are recorded, and only whether there were any (and how many) is read.
    const trace = await TraceInstance.create(name, { bufferKb: 64, events: { 'raw_syscalls/sys_exit': `(ret == -28 || ret == -122)${excluded}` } });
    return trace && new SpaceRefusals(trace);
  }

  /** How many refusals were recorded so far (at least: a full buffer drops the oldest). */
  async count(): Promise<number> {
    return (await this.#trace.trace()).split('\n').filter((line) => line.includes('sys_exit:')).length;
  }

  /** Stops recording and removes the instance; idempotent. */
  close(): Promise<void> {
    return this.#trace.close();
  }
}
