import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const tracingRoot = '/sys/kernel/tracing';
/** Every tracefs instance of this package's is named so, then the owning process's pid (see sweep). */
export const instancePrefix = 'cairn-space-';

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
  readonly #instance: string;
  #closed = false;

  private constructor(instance: string) {
    this.#instance = instance;
  }

  /** The file a process writes its pid into (append) to have it and what it starts watched. */
  get pidFile(): string {
    return join(this.#instance, 'set_event_pid');
  }

  /** A new instance named after `name` (unique among this process's); undefined where tracing is unavailable. */
  static async open(name: string): Promise<SpaceRefusals | undefined> {
    const excludedIds = notDiskSyscalls[process.arch];
    const root = excludedIds === undefined ? undefined : await tracing();
    if (root === undefined) return undefined;
    const instance = join(root, 'instances', `${instancePrefix}${process.pid}-${name}`);
    try {
      await mkdir(instance);
    } catch {
      return undefined;
    }
    try {
      // A small buffer: only refusals are recorded, and only whether there were any (and how many) is read.
      // An empty pid list traces every process: pid 0 (the idle task, which makes no syscalls) until
      // the sandbox's reaper adds its own.
      await writeFile(join(instance, 'set_event_pid'), '0');
      await writeFile(join(instance, 'buffer_size_kb'), '64');
      await writeFile(join(instance, 'options', 'event-fork'), '1');
      const excluded = excludedIds!.map((id) => ` && id != ${id}`).join('');
      await writeFile(join(instance, 'events', 'raw_syscalls', 'sys_exit', 'filter'), `(ret == -28 || ret == -122)${excluded}`);
      await writeFile(join(instance, 'events', 'raw_syscalls', 'sys_exit', 'enable'), '1');
      return new SpaceRefusals(instance);
    } catch {
      await rmdir(instance).catch(() => undefined);
      return undefined;
    }
  }

  /** How many refusals were recorded so far (at least: a full buffer drops the oldest). */
  async count(): Promise<number> {
    if (this.#closed) return 0;
    const text = await readFile(join(this.#instance, 'trace'), 'utf8');
    return text.split('\n').filter((line) => line.includes('sys_exit:')).length;
  }

  /** Stops recording and removes the instance; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await writeFile(join(this.#instance, 'events', 'raw_syscalls', 'sys_exit', 'enable'), '0').catch(() => undefined);
    await rmdir(this.#instance).catch(() => undefined);
  }

  /** Removes instances that processes no longer running left (killed before they closed them). */
  static async sweep(): Promise<void> {
    const root = await tracing();
    if (root === undefined) return;
    const names = await readdir(join(root, 'instances')).catch(() => [] as string[]);
    for (const name of names) {
      const owner = /^cairn-space-(\d+)-/.exec(name)?.[1];
      if (owner === undefined || existsSync(`/proc/${owner}`)) continue;
      await rmdir(join(root, 'instances', name)).catch(() => undefined);
    }
  }
}

let mounted: Promise<string | undefined> | undefined;

/** Where tracefs is, mounted there if it is not yet (root can); undefined where it cannot be. */
export function tracing(): Promise<string | undefined> {
  mounted ??= (async () => {
    const ready = () => existsSync(join(tracingRoot, 'instances')) && existsSync(join(tracingRoot, 'events', 'raw_syscalls', 'sys_exit'));
    if (ready()) return tracingRoot;
    await run('mount', ['-t', 'tracefs', 'nodev', tracingRoot], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).catch(() => undefined);
    return ready() ? tracingRoot : undefined;
  })();
  return mounted;
}
