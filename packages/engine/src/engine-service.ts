import type { AuditEntry, CairnEvent, EvidenceBundleV1 } from '@cairn/core';
import type { AuditQuery } from './records/audit-query.ts';
import type { EngineHealth } from './engine-health.ts';
import type { EngineMetrics } from './engine-metrics.ts';
import type { ModelCallAccess } from './model-call-access.ts';
import type { HostAuditWriter } from './host-audit/host-audit-writer.ts';
import type { EngineReads } from './store/engine-reads.ts';
import type { EngineCommandMethods } from './store/engine-commands.ts';

/** Which events `EngineService.events` yields, from where, and until when. */
export interface EngineEventsOptions {
  /** The id of the last event seen (the audit sequence); -1, the default, for all. */
  readonly after?: number;
  /** Only this run's events. */
  readonly runId?: string;
  /** Ends the stream. */
  readonly signal?: AbortSignal;
  /** Keep waiting for new events once caught up (the default), or end there (`false`). */
  readonly follow?: boolean;
  /**
   * Only events of these types (every type by default). The filter is the read's: entries that
   * cannot become one are not read from the database. Ids stay the audit sequence, so resuming
   * after the last event seen skips nothing of these types.
   */
  readonly types?: readonly CairnEvent['type'][];
}

/**
 * Everything a host (the server) asks of an engine, wherever the engine runs: every read and every
 * command is asynchronous, so the same host code works over the engine in this process (SQLite
 * mode: `engine.service()`) and over a shared database whose engine runs in another replica
 * (PostgreSQL mode: reads from the database, commands through a table). Errors are the engine's
 * own CairnErrors, whichever side answers.
 *
 * It starts and stops nothing: running the engine is its host's lifecycle, not a request's.
 */
export interface EngineService
  extends
    Pick<EngineReads, 'run' | 'runs' | 'items' | 'approvals' | 'graphItems' | 'spec' | 'artifacts' | 'attempts' | 'schedules' | 'secrets'>,
    // Commands (submit, approve, cancelRun, ...): one method per entry of the command table, each
    // resolving once what it changed is recorded (with its audit entries).
    EngineCommandMethods {
  // Reads: the state's (a run, its items, ...) are EngineReads'; these are the engine's own.
  /** Whether the engine can do its work now, and if not why and since when (what `/readyz` says). */
  health(): Promise<EngineHealth>;
  /** Counts by state, queue depth, live attempts and anchoring lag (what `/metrics` exposes). */
  metrics(): Promise<EngineMetrics>;
  /**
   * A run's evidence bundle. Rejects with CAIRN_NOT_FOUND for an unknown run and
   * CAIRN_BUNDLE_INVALID while no checkpoint covers it yet.
   */
  exportBundle(runId: string): Promise<EvidenceBundleV1>;
  /** Entries in the audit log now. */
  auditSize(): Promise<number>;
  /**
   * The audit entries `query` keeps, in order, up to the log's size when it is called. Throws
   * CAIRN_PAYLOAD_INVALID at once (before anything is read) for a bad field.
   */
  auditEntries(query?: AuditQuery): AsyncIterable<AuditEntry>;
  /**
   * Events after `options.after`, in order, as they happen: a client that resumes from the last id
   * it saw misses nothing and sees nothing twice. Each stream reads at its own pace.
   */
  events(options?: EngineEventsOptions): AsyncIterable<CairnEvent>;

  /** The audit entries the host writes about what it owns itself (access, tokens, webhooks); nothing else. */
  readonly hostAudit: HostAuditWriter;
  /** What the host's model gateway asks of the engine (ADR 0033): only where the engine runs. */
  readonly modelCalls: ModelCallAccess;
}
