import type { AuditEntry } from '@cairn/core';
import type { MerkleLog } from '@cairn/audit';
import type { AuditQuery } from '../records/audit-query.ts';

/**
 * The audit log as an engine shows it (`engine.audit`): reads only. The engine appends its own
 * entries in the transactions of its changes; a host writes the few it owns (an access denied, a
 * token created) through `engine.service().hostAudit`, one method per action. `AuditLog` (from
 * `@cairn/engine/internals`) is the implementation; this face names no database type, so a
 * consumer's type check needs none.
 */
export interface EngineAuditLog {
  /** The RFC 6962 tree over every entry, to read: its root, leaves and proofs. */
  readonly merkle: Pick<MerkleLog, 'size' | 'rootHash' | 'leafHash' | 'inclusionProof' | 'consistencyProof'>;
  /** Entries in the log. */
  readonly size: number;
  /** Entries from `seq` on, in order, `pageSize` at a time. */
  entries(fromSeq?: number, pageSize?: number): Generator<AuditEntry>;
  /**
   * The entries `query` keeps (a seq range, a run, an action, an actor, a time range), in order, a
   * page at a time, up to the log's size now. Throws CAIRN_PAYLOAD_INVALID at once for a bad field.
   */
  query(query?: AuditQuery): Generator<AuditEntry>;
  /** At most `limit` entries from `seq` on, in order; only those of `actions` when given. */
  page(fromSeq: number, limit: number, actions?: readonly string[]): AuditEntry[];
  /** A run's entries after global position `afterSeq`, in order, at most `limit`; only those of `actions` when given. */
  runEntriesAfter(runId: string, afterSeq: number, limit: number, actions?: readonly string[]): AuditEntry[];
  /** Resolves after the next append has committed (or when `signal` aborts). */
  nextAppend(signal?: AbortSignal): Promise<void>;
  /** A run's entries in runSeq order. */
  runEntries(runId: string): AuditEntry[];
}
