import { execFile } from 'node:child_process';
import { existsSync, rmdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const tracingRoot = '/sys/kernel/tracing';
/** Every tracefs instance of this package's is named so, then the owning process's pid (see `sweep`). */
const instancePrefix = 'cairn-space-';

/** What an instance records: its buffer's size, and each event (`group/name`) with its filter. */
export interface TraceInstanceSettings {
  readonly bufferKb: number;
  readonly events: Readonly<Record<string, string>>;
}

/**
 * How long an instance given back is kept for another user with the same buffer and events: making
 * and removing one costs ~5-9 ms of CPU (its ring buffers, its event files) and ~120-200 ms of wall
 * time, twice an attempt, where emptying one for the next costs a fraction of a millisecond of CPU.
 */
const keptForMs = 30_000;

/** An instance in tracefs, taken by one user at a time (a TraceInstance) and kept between users. */
interface Instance {
  readonly directory: string;
  readonly events: readonly string[];
  /** Its buffer size and events: a kept instance is taken only by a user asking for the same. */
  readonly key: string;
  expiry?: NodeJS.Timeout;
}

/** Instances given back and emptied, by key: each is taken by the next `create` with that key. */
const kept = new Map<string, Instance[]>();
let removedAtExit = false;

/**
 * One user's tracefs instance of this package's: a ring buffer with its own events and pid list, so
 * that an attempt's tracing neither sees nor disturbs another's, and the host's own tracing is left
 * alone. It follows the processes written to `pidFile` and those they start (`event-fork`); until
 * one is written it follows pid 0 only (the idle task, which makes no syscalls), since an empty pid
 * list would follow every process of the host. Its users read what it recorded (`SpaceRefusals`,
 * `RefusalPlacesWatch`).
 *
 * Closed, the instance is emptied (it follows pid 0 again, its buffer is cleared: nothing of one
 * attempt is seen by the next) and kept for `keptForMs` for the next `create` with the same buffer
 * size and events, which sets its filters; then removed, or when this process exits (a killed one's
 * are swept by the next process, `sweep`). Each `create` is a user of its own: closing one again,
 * after its instance went to another, does not touch the other's.
 */
export class TraceInstance {
  readonly #instance: Instance;
  #closed = false;

  private constructor(instance: Instance) {
    this.#instance = instance;
  }

  /** A new instance named after `name` (unique among this process's), or a kept one; undefined where tracefs cannot be used (not root, no tracefs, an event this kernel lacks). */
  static async create(name: string, settings: TraceInstanceSettings): Promise<TraceInstance | undefined> {
    const root = await tracing();
    if (root === undefined) return undefined;
    const key = `${settings.bufferKb} ${Object.keys(settings.events).sort().join(' ')}`;
    for (let instance = kept.get(key)?.pop(); instance !== undefined; instance = kept.get(key)?.pop()) {
      if (await reopen(instance, settings)) return new TraceInstance(instance);
    }
    const directory = join(root, 'instances', `${instancePrefix}${process.pid}-${name}`);
    try {
      await mkdir(directory);
    } catch {
      return undefined;
    }
    try {
      await writeFile(join(directory, 'set_event_pid'), '0');
      await writeFile(join(directory, 'buffer_size_kb'), String(settings.bufferKb));
      await writeFile(join(directory, 'options', 'event-fork'), '1');
      for (const [event, filter] of Object.entries(settings.events)) {
        await writeFile(join(directory, 'events', event, 'filter'), filter);
        await writeFile(join(directory, 'events', event, 'enable'), '1');
      }
      return new TraceInstance({ directory, events: Object.keys(settings.events), key });
    } catch {
      await rmdir(directory).catch(() => undefined);
      return undefined;
    }
  }

  /** The file a process writes its pid into (append) to have it and what it starts followed. */
  get pidFile(): string {
    return join(this.#instance.directory, 'set_event_pid');
  }

  /** What the buffer holds now (the latest events: a full buffer drops the oldest); empty once closed. */
  async trace(): Promise<string> {
    return this.#closed ? '' : readFile(join(this.#instance.directory, 'trace'), 'utf8');
  }

  /**
   * Stops recording for this user: the instance follows pid 0 only again and its buffer is cleared,
   * then it is kept for the next user (see the class); removed where that fails. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await giveBack(this.#instance);
  }

  /** Removes instances that processes no longer running left (killed before they closed them). */
  static async sweep(): Promise<void> {
    const root = await tracing();
    if (root === undefined) return;
    const names = await readdir(join(root, 'instances')).catch(() => [] as string[]);
    for (const name of names) {
      const owner = new RegExp(`^${instancePrefix}(\\d+)-`).exec(name)?.[1];
      if (owner === undefined || existsSync(`/proc/${owner}`)) continue;
      await rmdir(join(root, 'instances', name)).catch(() => undefined);
    }
  }
}

/** Takes a kept instance up again with `settings`' filters; false (and it is removed) where that fails. */
async function reopen(instance: Instance, settings: TraceInstanceSettings): Promise<boolean> {
  clearTimeout(instance.expiry);
  try {
    for (const [event, filter] of Object.entries(settings.events)) await writeFile(join(instance.directory, 'events', event, 'filter'), filter);
    return true;
  } catch {
    await remove(instance);
    return false;
  }
}

/** Empties `instance` and keeps it for the next user (see TraceInstance); removes it where it cannot be emptied. */
async function giveBack(instance: Instance): Promise<void> {
  try {
    // Truncating opens: the pid list is emptied before pid 0 is written, the buffer emptied on every CPU.
    await writeFile(join(instance.directory, 'set_event_pid'), '0');
    await writeFile(join(instance.directory, 'trace'), '');
  } catch {
    await remove(instance);
    return;
  }
  const list = kept.get(instance.key) ?? [];
  list.push(instance);
  kept.set(instance.key, list);
  instance.expiry = setTimeout(() => {
    const at = list.indexOf(instance);
    if (at < 0) return;
    list.splice(at, 1);
    void remove(instance);
  }, keptForMs).unref();
  if (removedAtExit) return;
  removedAtExit = true;
  // Synchronous, as an exit handler must be; events need not be turned off first for rmdir.
  process.once('exit', () => {
    for (const { directory } of [...kept.values()].flat()) {
      try {
        rmdirSync(directory);
      } catch {
        // Already gone, or busy: the next process's sweep removes it.
      }
    }
  });
}

async function remove(instance: Instance): Promise<void> {
  for (const event of instance.events) await writeFile(join(instance.directory, 'events', event, 'enable'), '0').catch(() => undefined);
  await rmdir(instance.directory).catch(() => undefined);
}

let mounted: Promise<string | undefined> | undefined;

/** Where tracefs is, mounted there if it is not yet (root can); undefined where it cannot be. */
function tracing(): Promise<string | undefined> {
  mounted ??= (async () => {
    const ready = () => existsSync(join(tracingRoot, 'instances')) && existsSync(join(tracingRoot, 'events', 'raw_syscalls', 'sys_exit'));
    if (ready()) return tracingRoot;
    await run('mount', ['-t', 'tracefs', 'nodev', tracingRoot], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).catch(() => undefined);
    return ready() ? tracingRoot : undefined;
  })();
  return mounted;
}
