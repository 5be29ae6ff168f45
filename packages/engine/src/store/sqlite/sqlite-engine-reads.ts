import type { AuditEntry, RunSpecV1 } from '@cairn/core';
import type { AuditLog } from '../../audit/audit-log.ts';
import type { ScheduleRecord } from '../../schedules/schedule-book.ts';
import type { SecretRecord } from '../../secrets/secret-store.ts';
import type { ItemRecord, RunRecord } from '../../records/run-records.ts';
import type { EngineReads, GraphItemRecord, GraphItemSelection } from '../engine-reads.ts';
import { graphItemOfRow } from '../shared/stored-records.ts';
import type { ItemAttemptRecord } from '../../records/attempt-records.ts';
import type { AuditQuery } from '../../records/audit-query.ts';
import type { RunListOptions, RunPage } from '../../records/run-page.ts';
import type { StateCounts } from '../../records/state-counts.ts';
import type { WorkingCopy } from './working-copy.ts';
import type { ItemApprovalRecord } from '../../records/approval-records.ts';

/** What `SqliteEngineReads` reads from: the engine's working copy and its audit log, and how far anchoring trails. */
export interface SqliteEngineReadsSettings {
  readonly workingCopy: WorkingCopy;
  readonly audit: AuditLog;
  readonly anchoringLag: () => { readonly unanchoredEntries: number; readonly pendingCheckpoints: number };
}

/**
 * The engine's reads from its own SQLite database, in its process (`EngineReads`). Each read runs
 * at once on the engine's connection; it sees what the engine's transactions have written, a few
 * milliseconds before the group commit makes it durable.
 */
export class SqliteEngineReads implements EngineReads {
  readonly #workingCopy: WorkingCopy;
  readonly #audit: AuditLog;
  readonly #anchoringLag: SqliteEngineReadsSettings['anchoringLag'];

  constructor(settings: SqliteEngineReadsSettings) {
    this.#workingCopy = settings.workingCopy;
    this.#audit = settings.audit;
    this.#anchoringLag = settings.anchoringLag;
  }

  async run(runId: string): Promise<RunRecord | undefined> {
    return this.#workingCopy.runs.run(runId);
  }

  async runs(options?: RunListOptions): Promise<RunPage> {
    return this.#workingCopy.history.page(options);
  }

  async items(runId: string): Promise<ItemRecord[]> {
    return this.#workingCopy.runs.items(runId);
  }

  async approvals(runId: string): Promise<ItemApprovalRecord[]> {
    return this.#workingCopy.approvalVotes.ofRun(runId);
  }

  async graphItems(runId: string, selection: GraphItemSelection): Promise<GraphItemRecord[]> {
    return this.#workingCopy.runs.graphItems(runId, selection).map(graphItemOfRow);
  }

  async spec(runId: string): Promise<RunSpecV1 | undefined> {
    const text = this.#workingCopy.runs.spec(runId);
    return text === undefined ? undefined : (JSON.parse(text) as RunSpecV1);
  }

  async artifacts(runId: string, itemId: string): Promise<Readonly<Record<string, string>> | undefined> {
    return this.#workingCopy.runs.artifacts(runId, itemId);
  }

  async attempts(runId: string, itemId: string): Promise<ItemAttemptRecord[]> {
    return this.#workingCopy.attempts.ofItem(runId, itemId);
  }

  async auditSize(): Promise<number> {
    return this.#audit.size;
  }

  async auditPage(fromSeq: number, limit: number, actions?: readonly string[]): Promise<AuditEntry[]> {
    return this.#audit.page(fromSeq, limit, actions);
  }

  async runEntriesAfter(runId: string, afterSeq: number, limit: number, actions?: readonly string[]): Promise<AuditEntry[]> {
    return this.#audit.runEntriesAfter(runId, afterSeq, limit, actions);
  }

  auditQuery(query?: AuditQuery): AsyncGenerator<AuditEntry> {
    // Checked now, not at the first `next()`: a bad field throws before an answer starts.
    const entries = this.#audit.query(query);
    return (async function* () {
      yield* entries;
    })();
  }

  async counts(): Promise<StateCounts> {
    return this.#workingCopy.counts.read();
  }

  async schedules(): Promise<ScheduleRecord[]> {
    return this.#workingCopy.schedules.list();
  }

  async secrets(): Promise<SecretRecord[]> {
    return this.#workingCopy.secrets.list();
  }

  async anchoringLag(): Promise<{ readonly unanchoredEntries: number; readonly pendingCheckpoints: number }> {
    return this.#anchoringLag();
  }
}
