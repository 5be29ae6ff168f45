import type { DsseEnvelope } from '@cairn/core';
import type { StoredCheckpoint } from '../../audit/checkpointer.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';

/** A checkpoint issued and not anchored yet, whose next try is due. */
export interface UnanchoredCheckpoint {
  readonly treeSize: number;
  readonly envelope: DsseEnvelope;
  /** Tries of its anchoring that failed so far. */
  readonly tries: number;
}

/**
 * The audit log's signed checkpoints, one row per tree size, with what anchoring each has achieved:
 * whether it is anchored (and the receipts), or when to try again and why the last try failed.
 */
export class CheckpointTable {
  readonly #latestTreeSize;
  readonly #latest;
  readonly #add;
  readonly #due;
  readonly #anchored;
  readonly #anchorFailed;
  readonly #covering;
  readonly #anchoringLag;

  constructor(database: EngineDatabase) {
    this.#latestTreeSize = database.prepare<[], { treeSize: number }>('SELECT tree_size AS treeSize FROM checkpoints ORDER BY tree_size DESC LIMIT 1');
    this.#latest = database.prepare<[], { treeSize: number; envelope: string }>(
      'SELECT tree_size AS treeSize, envelope FROM checkpoints ORDER BY tree_size DESC LIMIT 1',
    );
    this.#add = database.prepare<[number, string, string, string]>(
      'INSERT OR IGNORE INTO checkpoints (tree_size, envelope, issued_at, next_try_at) VALUES (?, ?, ?, ?)',
    );
    this.#due = database.prepare<[string], { treeSize: number; envelope: string; tries: number }>(
      'SELECT tree_size AS treeSize, envelope, tries FROM checkpoints WHERE anchored = 0 AND next_try_at <= ? ORDER BY tree_size',
    );
    this.#anchored = database.prepare<[string, number]>('UPDATE checkpoints SET anchored = 1, receipts = ?, last_error = NULL WHERE tree_size = ?');
    this.#anchorFailed = database.prepare<[string, string, number]>(
      'UPDATE checkpoints SET tries = tries + 1, next_try_at = ?, last_error = ? WHERE tree_size = ?',
    );
    this.#covering = database.prepare<[number], { treeSize: number; envelope: string; anchored: number; receipts: string }>(
      'SELECT tree_size AS treeSize, envelope, anchored, receipts FROM checkpoints WHERE tree_size >= ? ORDER BY anchored DESC, tree_size LIMIT 1',
    );
    this.#anchoringLag = database.prepare<[], { anchoredTreeSize: number | null; pending: number }>(
      'SELECT (SELECT MAX(tree_size) FROM checkpoints WHERE anchored = 1) AS anchoredTreeSize, (SELECT COUNT(*) FROM checkpoints WHERE anchored = 0) AS pending',
    );
  }

  /** The tree size the latest checkpoint covers; 0 when none was issued. */
  latestTreeSize(): number {
    return this.#latestTreeSize.get()?.treeSize ?? 0;
  }

  /** The latest checkpoint's tree size and envelope; undefined when none was issued. */
  latest(): { readonly treeSize: number; readonly envelope: DsseEnvelope } | undefined {
    const row = this.#latest.get();
    return row && { treeSize: row.treeSize, envelope: JSON.parse(row.envelope) as DsseEnvelope };
  }

  /** Adds a checkpoint, to be anchored from `anchorFrom` on; one of its tree size already stored is kept. */
  add(treeSize: number, envelope: DsseEnvelope, issuedAt: string, anchorFrom: string): void {
    this.#add.run(treeSize, JSON.stringify(envelope), issuedAt, anchorFrom);
  }

  /** The checkpoints not anchored whose next try is due at `time`, by tree size. */
  dueForAnchoring(time: string): UnanchoredCheckpoint[] {
    return this.#due.all(time).map((row) => ({ treeSize: row.treeSize, envelope: JSON.parse(row.envelope) as DsseEnvelope, tries: row.tries }));
  }

  /** Records the checkpoint of `treeSize` anchored, with the signed receipts of its anchors. */
  markAnchored(treeSize: number, receipts: readonly DsseEnvelope[]): void {
    this.#anchored.run(JSON.stringify(receipts), treeSize);
  }

  /** Records a failed try at anchoring the checkpoint of `treeSize`: why, and when to try again. */
  markAnchorFailed(treeSize: number, nextTryAt: string, reason: string): void {
    this.#anchorFailed.run(nextTryAt, reason, treeSize);
  }

  /** The first checkpoint covering `treeSize` entries, anchored ones first. */
  covering(treeSize: number): StoredCheckpoint | undefined {
    const row = this.#covering.get(treeSize);
    return (
      row && {
        treeSize: row.treeSize,
        envelope: JSON.parse(row.envelope) as DsseEnvelope,
        anchored: row.anchored === 1,
        receipts: JSON.parse(row.receipts) as DsseEnvelope[],
      }
    );
  }

  /** The tree size the latest anchored checkpoint covers (0: none is), and how many wait to be anchored. */
  anchoringLag(): { readonly anchoredTreeSize: number; readonly pending: number } {
    const row = this.#anchoringLag.get()!;
    return { anchoredTreeSize: row.anchoredTreeSize ?? 0, pending: row.pending };
  }
}
