import { stat } from 'node:fs/promises';
import { notDiskSyscalls } from './space-refusals.ts';
import { TraceInstance } from './trace-instance.ts';

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
  readonly #trace: TraceInstance;

  private constructor(trace: TraceInstance) {
    this.#trace = trace;
  }

  get pidFile(): string {
    return this.#trace.pidFile;
  }

  /** A new instance for the attempt `name` whose workspace's ext4 is mounted at `workspaceMount`; undefined where it cannot be. */
  static async open(name: string, workspaceMount: string): Promise<RefusalPlacesWatch | undefined> {
    const syscalls = writingSyscalls[process.arch];
    if (syscalls === undefined || notDiskSyscalls[process.arch] === undefined) return undefined;
    const device = await kernelDeviceOf(workspaceMount).catch(() => undefined);
    if (device === undefined) return undefined;
    const trace = await TraceInstance.create(`${name}-places`, {
      bufferKb: 512,
      events: {
        ...Object.fromEntries(ext4Events.map((event) => [`ext4/${event}`, `dev == ${device}`])),
        'raw_syscalls/sys_exit': syscalls.map((id) => `id == ${id}`).join(' || '),
      },
    });
    return trace && new RefusalPlacesWatch(trace);
  }

  /** The refusals placed so far (see the class). */
  async places(): Promise<RefusalPlaces> {
    return placesIn(await this.#trace.trace());
  }

  close(): Promise<void> {
    return this.#trace.close();
  }
}

/** The device number the kernel's ext4 events name for the file system mounted at `mount`. */
async function kernelDeviceOf(mount: string): Promise<bigint> {
  const { dev } = await stat(mount, { bigint: true });
  // glibc's gnu_dev_major / gnu_dev_minor, then the kernel's dev_t (MKDEV: major << 20 | minor).
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return (major << 20n) | minor;
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
