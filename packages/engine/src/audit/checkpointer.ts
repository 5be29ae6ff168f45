import type { AuditAnchorV1, DsseEnvelope, SignerV1 } from '@cairn/core';
import { anchorEnvelopeBytes, readCheckpoint, signCheckpoint, signReceipt } from '@cairn/audit';
import { isCairnError } from '@cairn/protocol';
import type { EngineDatabase } from '../database/engine-database.ts';
import type { AuditLog } from './audit-log.ts';
import { retryDelay } from '../dispatch/retry-delay.ts';
import { storageFullReason } from '../database/storage-full.ts';
import { engineActor } from '../engine-actor.ts';
import type { EngineObserver } from '../engine-observer.ts';

export interface CheckpointerSettings {
  readonly database: EngineDatabase;
  readonly audit: AuditLog;
  readonly signer: SignerV1;
  /** Where checkpoints are anchored; none keeps them only in the database. */
  readonly anchors: readonly AuditAnchorV1[];
  /** Names the log in every checkpoint (`cairn:<server>`). */
  readonly origin: string;
  /** Issue a checkpoint once this many entries are uncovered... */
  readonly everyEntries: number;
  /** ...or once the oldest uncovered entry is this old. */
  readonly everyMs: number;
  readonly now: () => number;
  /** Told when an anchor fails, for metrics. */
  readonly observer?: EngineObserver;
}

/** A stored checkpoint and what anchoring it has achieved. */
export interface StoredCheckpoint {
  readonly treeSize: number;
  readonly envelope: DsseEnvelope;
  readonly anchored: boolean;
  /** Signed receipts, one per anchor, once anchored. */
  readonly receipts: readonly DsseEnvelope[];
}

/** Between tries of an anchor that failed: 1s, 2s, 4s ... up to 5 minutes. */
const anchorBackoff = { initial: '1s', factor: 2, max: '5m', jitter: false } as const;

/**
 * Issues signed checkpoints of the audit log (every N entries, every T, and when a run ends) and
 * anchors them. An anchor that fails keeps the checkpoint queued and is retried with exponential
 * backoff; nothing is dropped, and every step is audited.
 */
export class Checkpointer {
  readonly #settings: CheckpointerSettings;
  readonly #statements;
  /** The step in progress: the loop and an export may both ask, and must not sign or anchor twice. */
  #busy: Promise<unknown> = Promise.resolve();

  constructor(settings: CheckpointerSettings) {
    this.#settings = settings;
    const prepare = settings.database.prepare.bind(settings.database);
    this.#statements = {
      latest: prepare<[], { treeSize: number; issuedAt: string }>(
        'SELECT tree_size AS treeSize, issued_at AS issuedAt FROM checkpoints ORDER BY tree_size DESC LIMIT 1',
      ),
      insert: prepare('INSERT OR IGNORE INTO checkpoints (tree_size, envelope, issued_at, next_try_at) VALUES (?, ?, ?, ?)'),
      due: prepare<[string], { treeSize: number; envelope: string; tries: number }>(
        'SELECT tree_size AS treeSize, envelope, tries FROM checkpoints WHERE anchored = 0 AND next_try_at <= ? ORDER BY tree_size',
      ),
      anchored: prepare('UPDATE checkpoints SET anchored = 1, receipts = ?, last_error = NULL WHERE tree_size = ?'),
      failed: prepare('UPDATE checkpoints SET tries = tries + 1, next_try_at = ?, last_error = ? WHERE tree_size = ?'),
      covering: prepare<[number], { treeSize: number; envelope: string; anchored: number; receipts: string }>(
        'SELECT tree_size AS treeSize, envelope, anchored, receipts FROM checkpoints WHERE tree_size >= ? ORDER BY anchored DESC, tree_size LIMIT 1',
      ),
      runEndedSince: prepare<[number], { seq: number }>(
        `SELECT seq FROM audit_entries WHERE seq >= ? AND action IN ('run.succeeded', 'run.failed', 'run.cancelled') LIMIT 1`,
      ),
      oldestUncovered: prepare<[number], { time: string }>('SELECT time FROM audit_entries WHERE seq = ?'),
      lag: prepare<[], { anchoredSize: number | null; pending: number }>(
        'SELECT (SELECT MAX(tree_size) FROM checkpoints WHERE anchored = 1) AS anchoredSize, (SELECT COUNT(*) FROM checkpoints WHERE anchored = 0) AS pending',
      ),
    };
  }

  /**
   * Signs a checkpoint of the whole log when one is due: enough new entries, the oldest uncovered
   * entry old enough, or a run ended since the last one. Returns its tree size, if it issued one.
   */
  issueIfDue(): Promise<number | undefined> {
    return this.#exclusive(() => this.#issueIfDue());
  }

  /** Anchors every checkpoint that is due; returns how many became anchored. */
  anchorDue(): Promise<number> {
    return this.#exclusive(() => this.#anchorDue());
  }

  #exclusive<T>(step: () => Promise<T>): Promise<T> {
    const result = this.#busy.then(step, step);
    this.#busy = result.catch(() => undefined);
    return result;
  }

  async #issueIfDue(): Promise<number | undefined> {
    const size = this.#settings.audit.size;
    const covered = this.#statements.latest.get()?.treeSize ?? 0;
    if (size <= covered) return undefined;
    const oldest = this.#statements.oldestUncovered.get(covered);
    const due =
      size - covered >= this.#settings.everyEntries ||
      (oldest !== undefined && this.#settings.now() - Date.parse(oldest.time) >= this.#settings.everyMs) ||
      this.#statements.runEndedSince.get(covered) !== undefined;
    if (!due) return undefined;
    const time = new Date(this.#settings.now()).toISOString();
    const envelope = await signCheckpoint(
      { origin: this.#settings.origin, treeSize: size, rootHash: Buffer.from(this.#settings.audit.merkle.rootHash(size)).toString('hex'), time },
      this.#settings.signer,
    );
    this.#settings.database.transaction(() => {
      this.#statements.insert.run(size, JSON.stringify(envelope), time, time);
      this.#settings.audit.append({
        actor: engineActor,
        action: 'checkpoint.issued',
        entity: { kind: 'checkpoint', id: String(size) },
        outcome: 'success',
        data: { treeSize: size },
      });
    })();
    return size;
  }

  async #anchorDue(): Promise<number> {
    let anchored = 0;
    for (const row of this.#statements.due.all(new Date(this.#settings.now()).toISOString())) {
      const envelope = JSON.parse(row.envelope) as DsseEnvelope;
      const checkpoint = readCheckpoint(envelope);
      try {
        const receipts: DsseEnvelope[] = [];
        for (const anchor of this.#settings.anchors) {
          const receipt = await anchor.anchor({
            origin: checkpoint.origin,
            treeSize: checkpoint.treeSize,
            rootHash: checkpoint.rootHash,
            envelope: anchorEnvelopeBytes(envelope),
          });
          receipts.push(await signReceipt(receipt, this.#settings.signer));
        }
        this.#settings.database.transaction(() => {
          this.#statements.anchored.run(JSON.stringify(receipts), row.treeSize);
          this.#settings.audit.append({
            actor: engineActor,
            action: 'checkpoint.anchored',
            entity: { kind: 'checkpoint', id: String(row.treeSize) },
            outcome: 'success',
            data: { treeSize: row.treeSize, anchors: this.#settings.anchors.map((anchor) => anchor.provider) },
          });
        })();
        anchored++;
      } catch (error) {
        // A full disk failed the write, not the anchor: nothing to record (and no room to), the
        // loop retries once there is room.
        if (storageFullReason(error) !== undefined) throw error;
        // The anchor is down or refused: keep the checkpoint queued, try again later.
        const reason = isCairnError(error) ? `${error.code}: ${error.message}` : String(error);
        const backoff = retryDelay(row.tries + 1, anchorBackoff);
        this.#settings.observer?.anchorFailed?.({ treeSize: row.treeSize, error: reason });
        this.#settings.database.transaction(() => {
          this.#statements.failed.run(new Date(this.#settings.now() + backoff).toISOString(), reason, row.treeSize);
          this.#settings.audit.append({
            actor: engineActor,
            action: 'checkpoint.anchored',
            entity: { kind: 'checkpoint', id: String(row.treeSize) },
            outcome: 'failure',
            data: { treeSize: row.treeSize, reason },
          });
        })();
      }
    }
    return anchored;
  }

  /**
   * How far anchoring trails the log: entries no anchored checkpoint covers yet, and checkpoints
   * waiting to be anchored.
   */
  lag(): { readonly unanchoredEntries: number; readonly pendingCheckpoints: number } {
    const row = this.#statements.lag.get()!;
    return { unanchoredEntries: this.#settings.audit.size - (row.anchoredSize ?? 0), pendingCheckpoints: row.pending };
  }

  /** The first checkpoint covering `treeSize` entries, anchored ones first. */
  covering(treeSize: number): StoredCheckpoint | undefined {
    const row = this.#statements.covering.get(treeSize);
    return (
      row && {
        treeSize: row.treeSize,
        envelope: JSON.parse(row.envelope) as DsseEnvelope,
        anchored: row.anchored === 1,
        receipts: JSON.parse(row.receipts) as DsseEnvelope[],
      }
    );
  }
}
