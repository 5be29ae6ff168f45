import type { AuditEntry } from '@cairn/core';
import type { LogCheckpoint } from '@cairn/audit';

/** Rows read per query: memory stays bounded whatever the log's length. */
export const logPageSize = 1000;

/**
 * A server's audit log as `cairn audit verify-log` reads it, from whichever store keeps the
 * engine's state: its entries in seq order, its checkpoints in tree-size order, and the hashes of
 * the complete subtrees its Merkle tree stores at its lowest stored level (only to name the few
 * entries among which an edited one is). The log's length is fixed when the source opens: entries
 * a running server appends meanwhile are left out.
 */
export interface ServerLogSource {
  /** Where the log was read from, for messages: a file, or a PostgreSQL target (never a password). */
  readonly location: string;
  entries(): AsyncIterable<unknown>;
  checkpoints(): AsyncIterable<LogCheckpoint>;
  /**
   * The stored subtrees of `level` (the engine's lowest stored node level): `hash(index)` once
   * `entries()` has yielded the last entry under it; undefined if none was stored.
   */
  readonly storedSubtrees: { readonly level: number; hash(index: number): Uint8Array | undefined };
  close(): Promise<void>;
}

/** A checkpoint row as both stores keep it. */
export interface CheckpointRow {
  readonly envelope: string;
  readonly anchored: number;
  readonly receipts: string;
}

export function checkpointOfRow(row: CheckpointRow): LogCheckpoint {
  return {
    envelope: JSON.parse(row.envelope) as LogCheckpoint['envelope'],
    anchored: row.anchored === 1,
    receipts: JSON.parse(row.receipts) as LogCheckpoint['receipts'],
  };
}

// A body that is not JSON is still an entry to report at its seq, not a crash of the check.
export function parsedBody(body: string, seq: number): unknown {
  try {
    return JSON.parse(body) as AuditEntry;
  } catch {
    return { seq, unreadable: 'the stored body is not JSON' };
  }
}

export function hashBytes(hash: Buffer | null | undefined): Uint8Array | undefined {
  return hash ? new Uint8Array(hash.buffer, hash.byteOffset, hash.byteLength) : undefined;
}
