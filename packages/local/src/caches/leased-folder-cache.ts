import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import type { z } from 'zod';
import { errorCode } from '../storage/error-code.ts';

const run = promisify(execFile);

/** What every entry's record holds, whatever else its cache keeps in it. */
export interface LeasedFolderRecord {
  readonly digest: string;
  /** What the entry takes on disk, measured once when it was built: what eviction counts. */
  readonly bytes: number;
}

/** What `LeasedFolderCache` is told. */
export interface LeasedFolderCacheOptions<EntryRecord extends LeasedFolderRecord> {
  /** The cache's folder (made if missing): one folder per entry, named after its digest's hex. */
  readonly directory: string;
  /** What the entries may take on disk together; the least recently used go first beyond it. */
  readonly maxBytes: number;
  /** An entry nobody used for this long goes, whatever room is left. */
  readonly maxAgeMs: number;
  /** The record written last into a built entry (`entry.json`): an entry without a valid one is not one. */
  readonly recordSchema: z.ZodType<EntryRecord>;
  /** How the log names an entry and the cache (`snapshot tree`, `snapshot cache`): its messages keep the names they had. */
  readonly names: { readonly entry: string; readonly cache: string };
  readonly logger?: Logger | undefined;
}

const recordName = 'entry.json';
const leasesName = 'leases';
/** A holder file in a folder being built: the attempt folder that builds it, alive while it exists. */
const builderName = 'builder';
const buildingPrefix = '.building-';
const trashPrefix = '.trash-';
/** A file naming the attempt folder that builds an entry now (`.lock-<hex>`): the others wait. */
const lockPrefix = '.lock-';

/**
 * The mechanics the snapshot cache and the environment cache share: folders built once per host
 * and digest, leased by the attempts that use them, bounded by bytes and age. What an entry holds
 * and how it is made (a tar extracted, a setup run) is each cache's own.
 *
 * - **Built aside, then renamed into place**: an entry is built in a `.building-*` folder (with a
 *   `builder` file naming its builder's folder) and its record written last, then renamed to its
 *   digest's hex; a restart mid-build leaves only a `.building-*` folder, removed once its builder
 *   is gone. Another builder winning the rename is fine: it built the same digest.
 * - **Locked while built**: `.lock-<hex>` names the folder of the one building it; a lock whose
 *   holder's folder is gone (its process died and was swept) is taken over.
 * - **Held while used**: a lease file in `leases/` names the holder's folder; a lease whose folder
 *   is gone holds nothing.
 * - **Bounded**: after a build, the least recently leased entries nobody holds go until the rest
 *   fit `maxBytes`, and any unused for `maxAgeMs`. Evicting renames an entry to `.trash-*` first,
 *   then removes it only if no lease appeared meanwhile.
 */
export class LeasedFolderCache<EntryRecord extends LeasedFolderRecord> {
  readonly #options: LeasedFolderCacheOptions<EntryRecord>;

  constructor(options: LeasedFolderCacheOptions<EntryRecord>) {
    this.#options = options;
  }

  get directory(): string {
    return this.#options.directory;
  }

  /** Where `digest`'s entry and its build lock are; CAIRN_DIGEST_INVALID for a digest that is not sha256. */
  locate(digest: string): { readonly name: string; readonly entry: string; readonly lock: string } {
    const name = entryName(digest);
    return { name, entry: join(this.#options.directory, name), lock: join(this.#options.directory, `${lockPrefix}${name}`) };
  }

  /**
   * Leases `digest`'s entry for `holder` and reads its record: both, the lease's release never
   * throwing, when the entry is there with a record of `digest`; `absent` when the entry is not
   * there; `foreign` (the lease let go) when its record is missing or names another digest, an
   * entry for the caller to set aside. The lease is down before the record is read: an evictor
   * that renamed the entry meanwhile sees it.
   */
  async leaseRecord(
    entry: string,
    digest: string,
    holder: string,
  ): Promise<{ readonly record: EntryRecord; readonly release: () => Promise<void> } | 'absent' | 'foreign'> {
    const lease = join(entry, leasesName, randomUUID());
    try {
      await writeFile(lease, holder, { flag: 'wx' });
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return 'absent';
      throw error;
    }
    const release = () => rm(lease, { force: true }).catch(() => undefined);
    const record = await this.readRecord(entry);
    if (record?.digest === digest) return { record, release };
    await release();
    return 'foreign';
  }

  /** The entry's record, or undefined when it is missing or not valid. */
  async readRecord(entry: string): Promise<EntryRecord | undefined> {
    try {
      return this.#options.recordSchema.parse(JSON.parse(await readFile(join(entry, recordName), 'utf8')));
    } catch {
      return undefined;
    }
  }

  /**
   * Takes the build lock `lock` for `holder`: true when taken; false while another holder's build
   * goes on. A lock whose holder is gone is taken over.
   */
  async takeLock(lock: string, holder: string): Promise<boolean> {
    try {
      await writeFile(lock, holder, { flag: 'wx' });
      return true;
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
    }
    if (await isHolding(lock)) return false;
    await rm(lock, { force: true });
    return this.takeLock(lock, holder);
  }

  /**
   * Builds `entry` for `holder`: `fill` writes the entry's own files into the folder it is given
   * (which holds `leases/` and the builder file) and returns its record, written last; then the
   * folder is renamed into place. The record when this build's folder was renamed into place;
   * undefined when another builder's got there first (this one is removed). Throws what `fill`
   * throws, the folder removed.
   */
  async build(entry: string, holder: string, fill: (building: string) => Promise<EntryRecord>): Promise<EntryRecord | undefined> {
    await mkdir(this.#options.directory, { recursive: true, mode: 0o700 });
    const building = join(this.#options.directory, `${buildingPrefix}${randomUUID()}`);
    await mkdir(join(building, leasesName), { recursive: true });
    try {
      await writeFile(join(building, builderName), holder);
      const record = await fill(building);
      await writeFile(join(building, recordName), JSON.stringify(record));
      await rm(join(building, builderName));
      try {
        await rename(building, entry);
      } catch (error) {
        // Another builder's entry got there first: it is the same digest.
        if (errorCode(error) !== 'ENOTEMPTY' && errorCode(error) !== 'EEXIST') throw error;
        await rm(building, { recursive: true, force: true });
        return undefined;
      }
      return record;
    } catch (error) {
      await rm(building, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Renames an entry out of the way, to `.trash-*` (removed once nobody holds it): true when it
   * was; false when it was gone already. Throws any other error of the rename.
   */
  async setAside(entry: string): Promise<boolean> {
    return rename(entry, join(this.#options.directory, `${trashPrefix}${randomUUID()}`)).then(
      () => true,
      (error: unknown) => {
        if (errorCode(error) !== 'ENOENT') throw error;
        return false;
      },
    );
  }

  /** Evicts as `evict` does after a build; a failure is logged, never thrown (the build stands). */
  async evictAfterBuild(keep: string): Promise<void> {
    await this.evict(keep).catch((error: unknown) =>
      this.#options.logger?.warn({ directory: this.#options.directory, error: String(error) }, `could not evict from the ${this.#options.names.cache}`),
    );
  }

  /**
   * Evicts entries nobody holds, least recently leased first, until the rest fit `maxBytes`, and
   * those unused for `maxAgeMs`; `keep` (just built) stays. Then empties the trash.
   */
  async evict(keep: string): Promise<void> {
    const now = Date.now();
    const entries = [];
    for (const name of await readdir(this.#options.directory)) {
      if (name.startsWith('.')) continue;
      const entry = join(this.#options.directory, name);
      const record = await this.readRecord(entry);
      // The leases folder's mtime moves with every lease taken or let go: when it was last used.
      const used = await stat(join(entry, leasesName)).catch(() => undefined);
      entries.push({ entry, bytes: record?.bytes ?? 0, usedAt: used?.mtimeMs ?? 0 });
    }
    entries.sort((left, right) => left.usedAt - right.usedAt);
    let total = entries.reduce((sum, entry) => sum + entry.bytes, 0);
    for (const { entry, bytes, usedAt } of entries) {
      if (entry === keep) continue;
      if (total <= this.#options.maxBytes && now - usedAt < this.#options.maxAgeMs) continue;
      if (await isHeld(join(entry, leasesName))) continue;
      await this.setAside(entry).catch(() => undefined);
      total -= bytes;
      this.#options.logger?.info({ entry, bytes }, `${this.#options.names.entry} evicted`);
    }
    await this.emptyTrash();
  }

  /** Removes set-aside entries nobody holds any more, and builds whose builder is gone. */
  async emptyTrash(): Promise<void> {
    for (const name of await readdir(this.#options.directory)) {
      const folder = join(this.#options.directory, name);
      if (name.startsWith(trashPrefix) && !(await isHeld(join(folder, leasesName)))) await rm(folder, { recursive: true, force: true });
      if (name.startsWith(buildingPrefix) && !(await isHolding(join(folder, builderName)))) await rm(folder, { recursive: true, force: true });
    }
  }
}

/** What a folder takes on disk (allocated blocks, `du`), measured once when its entry is built. */
export async function diskBytes(folder: string): Promise<number> {
  const { stdout } = await run('du', ['-s', '-B1', folder], { env: { PATH: '/usr/bin:/bin' } });
  return Number(stdout.split('\t')[0]);
}

/** The folder name of a digest's entry: its hex part (`sha256:ab…` → `ab…`). */
function entryName(digest: string): string {
  const hex = digest.slice(digest.indexOf(':') + 1);
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new CairnError('CAIRN_DIGEST_INVALID', `${JSON.stringify(digest)} is not a sha256 digest (sha256:<64 hex>).`);
  return hex;
}

/** Whether a lease, lock or builder file names a folder that still exists. */
async function isHolding(file: string): Promise<boolean> {
  const holder = await readFile(file, 'utf8').catch(() => undefined);
  return holder !== undefined && (await stat(holder).catch(() => undefined)) !== undefined;
}

/** Whether any lease in `leases` is still holding. */
async function isHeld(leases: string): Promise<boolean> {
  for (const name of await readdir(leases).catch(() => [])) if (await isHolding(join(leases, name))) return true;
  return false;
}
