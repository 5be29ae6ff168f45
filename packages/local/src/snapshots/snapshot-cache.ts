import { mkdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { runGit } from '@cairn/protocol/workspace';
import { buildSnapshotTree, type SnapshotTree } from '@cairn/worker';
import { z } from 'zod';
import { diskBytes, LeasedFolderCache } from '../caches/leased-folder-cache.ts';

/** What `SnapshotCache` is told. */
export interface SnapshotCacheOptions {
  /** The cache's folder (made if missing): one folder per snapshot, named after its digest. */
  readonly directory: string;
  /** What the trees may take on disk together; the least recently used ones go first beyond it. */
  readonly maxBytes: number;
  /** A tree nobody used for this long goes, whatever room is left. */
  readonly maxAgeMs: number;
  /**
   * How long a tree found sound is used without being looked at again: a look stats every file
   * (about 80 ms of CPU at 40,000 files), so it is not paid by every attempt of a busy run.
   */
  readonly checkEveryMs: number;
  readonly logger?: Logger;
}

/** A tree held for one attempt: it stays until `release`. */
export interface HeldSnapshotTree {
  readonly snapshot: SnapshotTree;
  /** Lets go of the tree (it may be evicted from now on); never throws. */
  release(): Promise<void>;
}

/** The record written last into a built entry: an entry without it is not one. */
const entryRecordSchema = z.object({
  digest: z.string(),
  baseline: z.string().regex(/^[0-9a-f]{40}$/),
  entries: z.int().min(0),
  bytes: z.int().min(0),
});
type EntryRecord = z.infer<typeof entryRecordSchema>;

/** A file whose mtime is when the tree was last found sound. */
const checkedName = 'checked';
const treeName = 'tree';
/** How often a waiter looks whether the tree it waits for was built. */
const lockPollMs = 100;
/** How long a waiter waits for another's build (a fetch that hangs) before it builds the tree itself. */
const buildWaitMs = 10 * 60_000;

/**
 * Snapshots extracted once per host, not once per attempt: each kept as `<digest hex>/tree` (the
 * files and the workspace's repository, `.git`, with the baseline commit; see buildSnapshotTree),
 * which attempts' workspaces are laid over and never write.
 *
 * - **Built aside, then renamed into place**: a tree is built in a `.building-*` folder and its
 *   record written last, then the folder renamed to its digest; a restart mid-build leaves only a
 *   `.building-*` folder (removed once its builder is gone), never a half entry. One attempt builds
 *   a snapshot's tree at a time (a `.lock-<hex>` file naming its folder); others taking the same
 *   snapshot meanwhile wait for that tree, and take the lock over once its holder's folder is gone.
 *   Were two to build anyway (another host sharing the folder), the first rename wins.
 * - **Held while used**: an attempt holds its tree with a lease file naming its folder; a lease
 *   whose folder is gone (the attempt ended or its process died and was swept) holds nothing.
 * - **Checked when taken**, unless it was found sound less than `checkEveryMs` ago: git compares
 *   the tree with the index the build wrote (size, times, inode, owner of every file, and files
 *   added): a tree that is not what was built (edited, deleted by a temp cleaner, a disk error that
 *   shows in its metadata) is set aside and built again. A change of a file's bytes that leaves its
 *   every stat field as it was (ctime cannot be set back) is not seen, nor one made since the last look.
 * - **Bounded**: after a build, the least recently used trees that nobody holds go until the rest
 *   fit `maxBytes`, and any unused for `maxAgeMs`. Evicting renames a tree to `.trash-*` first,
 *   then removes it only if no lease appeared meanwhile; a holder that finds its tree gone builds
 *   it again.
 */
export class SnapshotCache {
  readonly #options: SnapshotCacheOptions;
  readonly #cache: LeasedFolderCache<EntryRecord>;

  constructor(options: SnapshotCacheOptions) {
    this.#options = options;
    // Its directory, bounds and logger are this cache's own.
    this.#cache = new LeasedFolderCache({ ...options, recordSchema: entryRecordSchema, names: { entry: 'snapshot tree', cache: 'snapshot cache' } });
  }

  /**
   * The tree of `digest`, held for `holder` (the attempt's folder) until released: the one this
   * host has, or one built from `fetch()`. Throws what building throws: CAIRN_PAYLOAD_INVALID for
   * a snapshot that cannot be extracted, the fetch's errors, ENOSPC when the disk is full.
   */
  async hold(request: {
    readonly digest: string;
    readonly what: string;
    readonly fetch: () => Promise<Uint8Array>;
    readonly holder: string;
  }): Promise<HeldSnapshotTree> {
    const { entry, lock } = this.#cache.locate(request.digest);
    const waitingSince = Date.now();
    await mkdir(this.#options.directory, { recursive: true, mode: 0o700 });
    for (let round = 0; round < 4;) {
      const held = await this.#holdBuilt(entry, request.digest, request.holder);
      if (held) return held;
      // One builder per snapshot at a time: the others wait for its tree rather than build their own.
      const waitedTooLong = Date.now() - waitingSince > buildWaitMs;
      if (!waitedTooLong && !(await this.#cache.takeLock(lock, request.holder))) {
        await sleep(lockPollMs);
        continue;
      }
      try {
        await this.#build(entry, request);
      } finally {
        if (!waitedTooLong) await rm(lock, { force: true });
      }
      round++;
    }
    throw new CairnError(
      'CAIRN_INTERNAL',
      `The snapshot cache (${this.#options.directory}) lost the tree of ${request.what} four times while it was being taken (evicted or found damaged each time). Look for another process removing files there.`,
      { path: this.#options.directory },
    );
  }

  /** The entry held, when it is there and sound; undefined otherwise (a damaged one is set aside). */
  async #holdBuilt(entry: string, digest: string, holder: string): Promise<HeldSnapshotTree | undefined> {
    const leased = await this.#cache.leaseRecord(entry, digest, holder);
    if (leased === 'absent') return undefined;
    if (leased === 'foreign') {
      // Gone meanwhile (evicted) is nothing to set aside: #setAside lets a missing entry be.
      await this.#setAside(entry, 'its record is missing or names another snapshot');
      return undefined;
    }
    const { record, release } = leased;
    const tree = join(entry, treeName);
    const damage = (await this.#checkedLately(entry)) ? undefined : await treeDamage(tree);
    if (damage !== undefined) {
      await release();
      await this.#setAside(entry, damage);
      return undefined;
    }
    await utimes(join(entry, checkedName), new Date(), new Date()).catch(() => undefined);
    return { snapshot: { tree, gitDirectory: join(tree, '.git'), baseline: record.baseline, entries: record.entries }, release };
  }

  async #build(
    entry: string,
    request: { readonly digest: string; readonly what: string; readonly fetch: () => Promise<Uint8Array>; readonly holder: string },
  ): Promise<void> {
    const record = await this.#cache.build(entry, request.holder, async (building) => {
      await mkdir(join(building, treeName));
      const bytes = await request.fetch();
      const snapshot = await buildSnapshotTree(bytes, join(building, treeName), request.what);
      const built: EntryRecord = { digest: request.digest, baseline: snapshot.baseline, entries: snapshot.entries, bytes: await diskBytes(building) };
      await writeFile(join(building, checkedName), '');
      return built;
    });
    // Undefined: another builder's tree got there first, and it is the same snapshot.
    if (!record) return;
    this.#options.logger?.info({ digest: request.digest, entries: record.entries, bytes: record.bytes }, 'snapshot tree built');
    await this.#cache.evictAfterBuild(entry);
  }

  /** Whether the entry's tree was found sound less than `checkEveryMs` ago. */
  async #checkedLately(entry: string): Promise<boolean> {
    const checked = await stat(join(entry, checkedName)).catch(() => undefined);
    return checked !== undefined && Date.now() - checked.mtimeMs < this.#options.checkEveryMs;
  }

  /** Renames a damaged or foreign entry out of the way (it is removed once nobody holds it). */
  async #setAside(entry: string, why: string): Promise<void> {
    if (await this.#cache.setAside(entry)) this.#options.logger?.warn({ entry, why }, 'a snapshot tree is not what was built: it is set aside and built again');
    await this.#cache.emptyTrash();
  }
}

/**
 * Why `tree` is not what its build left, or undefined when git finds it as built: `git status`
 * against the index the build wrote, with every stat field compared (the tree's repository itself
 * compares fewer, for its sandbox's sake: see workspaceRepositorySettings).
 */
async function treeDamage(tree: string): Promise<string | undefined> {
  const git = { gitDirectory: join(tree, '.git'), workTree: tree };
  // --no-optional-locks: a status never rewrites the index other attempts are copying.
  const status = await runGit(git, [
    '--no-optional-locks',
    '-c',
    'core.checkStat=default',
    '-c',
    'core.trustctime=true',
    'status',
    '--porcelain=v1',
    '-z',
    '--untracked-files=all',
    '--no-renames',
  ]);
  if (status.exitCode !== 0) return `git cannot read it: ${status.stderr.split('\n')[0]}`;
  const changed = status.stdout.toString('utf8').split('\0').filter(Boolean);
  return changed.length === 0 ? undefined : `${changed.length} path${changed.length === 1 ? '' : 's'} differ (${changed.slice(0, 3).join(', ')})`;
}
