import type { AuditEntry, ItemSpec, ItemState, RunSpecV1 } from '@cairn/core';
import type { ScheduleRecord } from '../schedules/schedule-book.ts';
import type { SecretRecord } from '../secrets/secret-store.ts';
import type { ItemRecord, RunRecord } from '../records/run-records.ts';
import type { ItemApprovalRecord } from '../records/approval-records.ts';
import type { ItemAttemptRecord } from '../records/attempt-records.ts';
import type { AuditQuery } from '../records/audit-query.ts';
import type { RunListOptions, RunPage } from '../records/run-page.ts';
import type { StateCounts } from '../records/state-counts.ts';

/**
 * What the API reads of the engine's state, from the store that holds it: `SqliteEngineReads` (the
 * engine's own database, in its process) and `PostgresEngineReads` (PostgreSQL, from any replica)
 * answer each read with the same records, which one store suite checks on both
 * (`describeEngineReads`). The service, the event stream and `/metrics` read through it.
 */
export interface EngineReads {
  /** A run; undefined for an unknown one. */
  run(runId: string): Promise<RunRecord | undefined>;
  /** Runs newest first, a page at a time; rejects with CAIRN_PAYLOAD_INVALID naming `limit`, `cursor` or a filter. */
  runs(options?: RunListOptions): Promise<RunPage>;
  /** A run's items in spec order (empty for an unknown run). */
  items(runId: string): Promise<ItemRecord[]>;
  /** Each of a run's items that waits or waited for approval: its policy and the votes on it (ADR 0041), in position order. */
  approvals(runId: string): Promise<ItemApprovalRecord[]>;
  /**
   * Of a run's items, what a drawing of its graph needs (`GraphItemRecord`), in position order: a
   * page (up to `limit` after position `afterPosition`; -1 for the first) or those of `itemIds`
   * the run holds. Empty for an unknown run.
   */
  graphItems(runId: string, selection: GraphItemSelection): Promise<GraphItemRecord[]>;
  /** The run's spec as submitted (canonical form); undefined for an unknown run. */
  spec(runId: string): Promise<RunSpecV1 | undefined>;
  /** What a succeeded item produced (kind → digest), if it did. */
  artifacts(runId: string, itemId: string): Promise<Readonly<Record<string, string>> | undefined>;
  /** An item's attempts, first to last. */
  attempts(runId: string, itemId: string): Promise<ItemAttemptRecord[]>;
  /** Entries in the audit log. */
  auditSize(): Promise<number>;
  /** Up to `limit` entries from `fromSeq` on, in order; only of `actions` when given. */
  auditPage(fromSeq: number, limit: number, actions?: readonly string[]): Promise<AuditEntry[]>;
  /** Up to `limit` of a run's entries after sequence `afterSeq`, in order; only of `actions` when given. */
  runEntriesAfter(runId: string, afterSeq: number, limit: number, actions?: readonly string[]): Promise<AuditEntry[]>;
  /** The entries `query` keeps, in order, up to the log's size when it is called; throws CAIRN_PAYLOAD_INVALID at once for a bad field. */
  auditQuery(query?: AuditQuery): AsyncGenerator<AuditEntry>;
  /** Runs and items by state, the ready queue and live attempts. */
  counts(): Promise<StateCounts>;
  /** Schedules, by id. */
  schedules(): Promise<ScheduleRecord[]>;
  /** Names and versions of the secrets (never their values). */
  secrets(): Promise<SecretRecord[]>;
  /** Entries no anchored checkpoint covers yet, and checkpoints waiting to be anchored. */
  anchoringLag(): Promise<{ readonly unanchoredEntries: number; readonly pendingCheckpoints: number }>;
}

/** Which of a run's items `EngineReads.graphItems` reads: a page by position, or those named. */
export type GraphItemSelection = { readonly afterPosition: number; readonly limit: number } | { readonly itemIds: readonly string[] };

/** An item with its place in its run's graph (`EngineReads.graphItems`). */
export interface GraphItemRecord {
  readonly itemId: string;
  /** Its place in the run: the spec's items first, then each added item in the order it was added. */
  readonly position: number;
  readonly state: ItemState;
  /** Its spec as it runs: the run's defaults applied, an added item's names namespaced (ADR 0034). */
  readonly spec: ItemSpec;
  /** The items its spec names (dependsOn, the producers of its needs, a merge's from, a forEach's from), once each, as named. */
  readonly prerequisites: readonly string[];
  /**
   * The items that wait on it, in code-unit order: its stored dependency edges, the waits the run
   * gained as it grew included (a fragment's sinks for its emitter's dependents, a re-run for its merge).
   */
  readonly dependents: readonly string[];
}
