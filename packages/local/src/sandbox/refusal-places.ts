import { stat } from 'node:fs/promises';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { instancePrefix, notDiskSyscalls, tracing } from './space-refusals.ts';

/**
 * Syscalls that write into a file system or make a name in one (x86-64 numbers): write, pwrite64,
 * writev, pwritev, pwritev2, open, openat, openat2, creat, mkdir, mkdirat, mknod, mknodat, link,
 * linkat, symlink, symlinkat, rename, renameat, renameat2, fallocate, ftruncate, truncate,
 * copy_file_range, sendfile, splice, fsync, fdatasync, close.
 */
const writingSyscalls: Partial<Record<NodeJS.Architecture, readonly number[]>> = {
  x64: [1, 18, 20, 296, 328, 2, 257, 437, 85, 83, 258, 133, 259, 86, 265, 88, 266, 82, 264, 316, 285, 77, 76, 326, 40, 275, 74, 75, 3],
};

/**
 * ext4's own events at the start of what can refuse room: a buffered write (delayed allocation or
 * not), a new inode, fallocate, a block mapping (a directory growing, a direct write).
 */
const ext4Events = ['ext4_da_write_begin', 'ext4_write_begin', 'ext4_request_inode', 'ext4_fallocate_enter', 'ext4_ext_map_blocks_enter'] as const;

/** How many of the refusals seen here were the workspace's, how many /tmp's. */
export interface RefusalPlaces {
  readonly workspace: number;
  readonly tmp: number;
}

/**
 * Which of an attempt's two volumes refused each write (see SpaceRefusals, which counts them): the
 * kernel's refusal does not say, so a second tracefs instance records, for the same processes,
 * the exits of syscalls that write and ext4's events on the workspace's device. A refused syscall
 * during which the workspace's ext4 did something was the workspace's (it gets to the allocation
 * before it refuses; /tmp, a tmpfs, emits nothing); one during which it did nothing was /tmp's.
 *
 * Best effort where SpaceRefusals is exact: this buffer holds the latest few thousand events, so a
 * refusal followed by much writing may have left it; only refusals whose syscall is seen from its
 * start (an earlier exit of the same process is in the buffer) are placed, the rest are not.
 */
export class RefusalPlacesWatch {
  readonly #instance: string;
  #closed = false;

  private constructor(instance: string) {
    this.#instance = instance;
  }

  get pidFile(): string {
    return join(this.#instance, 'set_event_pid');
  }

  /** A new instance for the attempt `name` whose workspace's ext4 is mounted at `workspaceMount`; undefined where it cannot be. */
  static async open(name: string, workspaceMount: string): Promise<RefusalPlacesWatch | undefined> {
    const syscalls = writingSyscalls[process.arch];
    const excluded = notDiskSyscalls[process.arch];
    const root = syscalls === undefined || excluded === undefined ? undefined : await tracing();
    if (root === undefined) return undefined;
    const instance = join(root, 'instances', `${instancePrefix}${process.pid}-${name}-places`);
    try {
      await mkdir(instance);
    } catch {
      return undefined;
    }
    try {
      const { dev } = await stat(workspaceMount, { bigint: true });
      // glibc's gnu_dev_major / gnu_dev_minor, then the kernel's dev_t (MKDEV: major << 20 | minor).
      const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
      const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
      const kernelDevice = (major << 20n) | minor;
      // An empty pid list traces every process: pid 0 (the idle task, which makes no syscalls) until
      // the sandbox's reaper adds its own.
      await writeFile(join(instance, 'set_event_pid'), '0');
      await writeFile(join(instance, 'buffer_size_kb'), '512');
      await writeFile(join(instance, 'options', 'event-fork'), '1');
      for (const event of ext4Events) {
        await writeFile(join(instance, 'events', 'ext4', event, 'filter'), `dev == ${kernelDevice}`);
        await writeFile(join(instance, 'events', 'ext4', event, 'enable'), '1');
      }
      await writeFile(join(instance, 'events', 'raw_syscalls', 'sys_exit', 'filter'), syscalls!.map((id) => `id == ${id}`).join(' || '));
      await writeFile(join(instance, 'events', 'raw_syscalls', 'sys_exit', 'enable'), '1');
      return new RefusalPlacesWatch(instance);
    } catch {
      await rmdir(instance).catch(() => undefined);
      return undefined;
    }
  }

  /** The refusals placed so far (see the class). */
  async places(): Promise<RefusalPlaces> {
    if (this.#closed) return { workspace: 0, tmp: 0 };
    return placesIn(await readFile(join(this.#instance, 'trace'), 'utf8'));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const event of ['raw_syscalls/sys_exit', ...ext4Events.map((name) => `ext4/${name}`)])
      await writeFile(join(this.#instance, 'events', event, 'enable'), '0').catch(() => undefined);
    await rmdir(this.#instance).catch(() => undefined);
  }
}

/** `comm-pid [cpu] flags timestamp: event: ...`, in time order: the pid and the event's name and text. */
const traceLine = /^\s*.*?-(\d+)\s+\[\d+\]\s+\S+\s+[\d.]+:\s+([a-z0-9_]+):\s*(.*)$/;

/** Places each refusal of a trace (see RefusalPlacesWatch); exported for its table test. */
export function placesIn(trace: string): RefusalPlaces {
  let workspace = 0;
  let tmp = 0;
  // By process: whether the workspace's ext4 did something since its last syscall exit; absent
  // until an exit of it is seen (what came before may have left the buffer).
  const ext4Since = new Map<string, boolean>();
  for (const line of trace.split('\n')) {
    const match = traceLine.exec(line);
    if (!match) continue;
    const [, pid, event, text] = match as unknown as [string, string, string, string];
    if (event.startsWith('ext4_')) {
      if (ext4Since.has(pid)) ext4Since.set(pid, true);
      continue;
    }
    if (event !== 'sys_exit') continue;
    const refused = / = -(28|122)$/.test(text);
    const seen = ext4Since.get(pid);
    if (refused && seen !== undefined) {
      if (seen) workspace++;
      else tmp++;
    }
    ext4Since.set(pid, false);
  }
  return { workspace, tmp };
}
