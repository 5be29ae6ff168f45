import type { LockMode, LockSpec } from '@cairn/core';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { rollbacksOf } from './rollback-watch.ts';

/** A lock as an item holds it. */
export interface HeldLock {
  readonly name: string;
  readonly mode: LockMode;
}

/** The locks an item declares, one per name, exclusive unless written `{ mode: shared }`. */
export function declaredLocks(locks: readonly LockSpec[] | undefined): HeldLock[] {
  return (locks ?? []).map((lock) => (typeof lock === 'string' ? { name: lock, mode: 'exclusive' } : { name: lock.name, mode: lock.mode ?? 'exclusive' }));
}

/**
 * Global named locks across all runs, held by items while they run. An item takes all its locks
 * at dispatch or none (so no item ever holds some while waiting for others: no deadlock);
 * shared holders exclude only exclusive ones.
 */
export class LockTable {
  readonly #holders;
  readonly #insert;
  readonly #release;

  readonly #all;
  readonly #database: EngineDatabase;
  /**
   * The database's rollback count when this table last saw no holder at all (`held` read it empty
   * and nothing was taken through it since), so reading the holders and releasing the locks of an
   * item cost nothing while no item holds any (most runs name none). Undefined when holders may exist; not trusted
   * after a rollback (what was taken may be gone, and the count moved) or over an unwatched
   * database.
   */
  #emptyAtRollbacks: number | undefined;

  constructor(database: EngineDatabase) {
    this.#database = database;
    this.#holders = database.prepare<[string], { mode: LockMode }>('SELECT mode FROM lock_holders WHERE name = ?');
    this.#all = database.prepare<[], { name: string; mode: LockMode }>('SELECT name, mode FROM lock_holders');
    this.#insert = database.prepare('INSERT OR IGNORE INTO lock_holders (name, mode, run_id, item_id) VALUES (?, ?, ?, ?)');
    this.#release = database.prepare('DELETE FROM lock_holders WHERE run_id = ? AND item_id = ?');
  }

  /** The modes each lock name is held in now (only running items hold locks: a small table). */
  held(): Map<string, LockMode[]> {
    // Known empty (every dispatch pass asks, and most runs name no lock): nothing to read.
    if (this.#knownEmpty()) return new Map();
    const held = new Map<string, LockMode[]>();
    for (const { name, mode } of this.#all.all()) held.set(name, [...(held.get(name) ?? []), mode]);
    this.#emptyAtRollbacks = held.size === 0 ? rollbacksOf(this.#database) : undefined;
    return held;
  }

  /** Whether `lock` could be taken now. */
  available(lock: HeldLock): boolean {
    const holders = this.#holders.all(lock.name);
    return lock.mode === 'shared' ? holders.every((holder) => holder.mode === 'shared') : holders.length === 0;
  }

  /** Takes every lock for the item if all are available; false (and nothing taken) otherwise. */
  acquireAll(runId: string, itemId: string, locks: readonly HeldLock[]): boolean {
    if (!locks.every((lock) => this.available(lock))) return false;
    if (locks.length > 0) this.#emptyAtRollbacks = undefined;
    for (const lock of locks) this.#insert.run(lock.name, lock.mode, runId, itemId);
    return true;
  }

  /** Releases whatever the item holds. */
  releaseAll(runId: string, itemId: string): void {
    if (this.#knownEmpty()) return;
    this.#release.run(runId, itemId);
  }

  // No item holds a lock: `held` read none, nothing was taken since, and no transaction rolled back.
  #knownEmpty(): boolean {
    return this.#emptyAtRollbacks !== undefined && this.#emptyAtRollbacks === rollbacksOf(this.#database);
  }
}
