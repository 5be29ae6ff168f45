import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CairnError } from '@cairn/protocol';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { CommitPipeline } from '../commit-pipeline.ts';
import type { GroupCommit } from '../group-commit.ts';

/**
 * The SQLite group commit (ADR 0031): the database runs `synchronous = NORMAL`, so a transaction
 * is in the WAL when it ends (it survives a crash of the process) but not yet on the disk; a
 * commit makes every transaction that ended before it durable against a power loss with one
 * fsync of the WAL file, pipelined (`CommitPipeline`: one fsync at a time, calls made during one
 * share the next). The engine calls it before anything its writes cause leaves it, so one fsync
 * covers a whole dispatch pass, never one per item.
 *
 * The first commit also syncs the database's directory, so the names of the database and its WAL
 * are durable too (SQLite syncs the directory itself only when it syncs the WAL, which `NORMAL`
 * leaves to checkpoints). An fsync that fails breaks the commit for good: Linux may have dropped
 * the pages it could not write, and a later fsync that succeeds would not bring them back, so a
 * restart must load what the disk holds.
 *
 * A commit with nothing written since the last fsync began makes no fsync: the engine's loop
 * commits every turn, and a turn that decided nothing (a poll, a reconcile, a poke) wrote no WAL
 * frame to sync. What was written is told by the connection's `total_changes()`, which every
 * INSERT, UPDATE and DELETE it runs moves (rolled-back ones included: those only cost an fsync);
 * the schema's DDL, which it does not count, runs before the first commit, and the first commit
 * always syncs. The count is taken before the fsync is called, and is trusted only when no
 * transaction was open then: an open one's changes are counted but not yet in the WAL.
 */
export class WalCommit {
  readonly #walPath: string;
  readonly #pipeline: CommitPipeline;
  #wal: FileHandle | undefined;
  #directorySynced = false;
  #syncs = 0;
  /** The connection's change count when the last fsync that succeeded was called, if no transaction was open then. */
  #syncedChanges: number | undefined;
  readonly #database: EngineDatabase;
  readonly #changes: () => number;
  /** Resolves (never rejects) with why, once an fsync has failed. */
  readonly failed: Promise<Error>;
  readonly commit: GroupCommit;

  constructor(database: EngineDatabase) {
    this.#walPath = `${database.name}-wal`;
    this.#database = database;
    const totalChanges = database.prepare<[]>('SELECT total_changes() AS changes');
    this.#changes = () => (totalChanges.get() as { changes: number }).changes;
    this.#pipeline = new CommitPipeline(
      () => this.#sync(),
      (cause) =>
        new CairnError(
          'CAIRN_STATE_UNAVAILABLE',
          `The engine's state could not be made durable: an fsync of ${this.#walPath} failed (${(cause as Error).message}), so nothing decided since may leave the engine. Check the disk, then restart the server: it loads what the disk holds.`,
          { path: 'engine.state', cause },
        ),
    );
    this.failed = this.#pipeline.failed;
    this.commit = this.#pipeline.commit;
  }

  /** The commit for `database`: a WAL fsync for a database in a file, nothing for one in memory (which no power loss can lose more of). */
  static commitFor(database: EngineDatabase): { readonly commit: GroupCommit; readonly failed: Promise<Error>; close(): Promise<void> } {
    if (database.name === '' || database.name === ':memory:' || database.memory === true) {
      return { commit: () => Promise.resolve(), failed: new Promise<Error>(() => {}), close: () => Promise.resolve() };
    }
    return new WalCommit(database);
  }

  /** The WAL fsyncs made so far. */
  get syncs(): number {
    return this.#syncs;
  }

  async #sync(): Promise<void> {
    const changes = this.#changes();
    if (changes === this.#syncedChanges) return;
    const settled = this.#database.inTransaction ? undefined : changes;
    // Opened at the first commit, when the WAL exists (a write made it); SQLite keeps the file, and
    // so its inode, for as long as it has the database open.
    this.#wal ??= await open(this.#walPath, 'r');
    await this.#wal.datasync();
    this.#syncs++;
    if (!this.#directorySynced) {
      const directory = await open(dirname(this.#walPath), 'r');
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
      this.#directorySynced = true;
    }
    this.#syncedChanges = settled;
  }

  /** Closes the WAL's descriptor (after the last commit). */
  async close(): Promise<void> {
    const wal = this.#wal;
    this.#wal = undefined;
    await wal?.close();
  }
}
