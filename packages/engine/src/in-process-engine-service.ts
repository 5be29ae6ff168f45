import type { AuditEntry, CairnEvent, EvidenceBundleV1, RunSpecV1 } from '@cairn/core';
import type { AuditQuery } from './records/audit-query.ts';
import type { ItemAttemptRecord } from './records/attempt-records.ts';
import type { Engine } from './engine.ts';
import type { EngineHealth } from './engine-health.ts';
import type { EngineMetrics } from './engine-metrics.ts';
import type { EngineEventsOptions, EngineService } from './engine-service.ts';
import type { HostAuditWriter } from './host-audit/host-audit-writer.ts';
import type { ModelCallAccess } from './model-call-access.ts';
import type { SecretRecord } from './secrets/secret-store.ts';
import type { ScheduleRecord } from './schedules/schedule-book.ts';
import { engineCommandMethods } from './store/engine-command-methods.ts';
import {
  serviceCommands,
  type EngineCommandMethods,
  type EngineCommandResults,
  type ServiceCommandArguments,
  type ServiceCommandKind,
} from './store/engine-commands.ts';
import type { RunListOptions, RunPage } from './records/run-page.ts';
import type { ItemRecord, RunRecord } from './records/run-records.ts';
import type { GraphItemRecord, GraphItemSelection } from './store/engine-reads.ts';
import type { ItemApprovalRecord } from './records/approval-records.ts';

/**
 * The engine service over an engine in this process (SQLite mode): reads answer from the engine's
 * `reads` (`EngineReads`, as a replica's from PostgreSQL), and each command is the engine's own
 * method, its answer (or its CairnError) handed back as a promise; a command answers once what it
 * changed is durable (`engine.committed()`), so a client told "done" keeps it through a power
 * loss, and so does a read of the state: a client shown an item succeeded is never shown it again
 * as not done, and it is not run again. (Events and audit reads do not wait.) Get one with
 * `engine.service()`.
 */
export class InProcessEngineService implements EngineService {
  readonly #engine: Engine;
  readonly hostAudit: HostAuditWriter;
  readonly modelCalls: ModelCallAccess;

  constructor(engine: Engine, hostAudit: HostAuditWriter) {
    this.#engine = engine;
    this.hostAudit = hostAudit;
    Object.assign(
      this,
      engineCommandMethods((kind, args) => this.#dispatch(kind, args)),
    );
    this.modelCalls = {
      liveAttempt: (executionId) => engine.liveAttempt(executionId),
      recordModelCall: (call, stored) => engine.recordModelCall(call, stored),
      revealSecret: (name, purpose) => engine.revealSecret(name, purpose),
      awaitBudget: (runId, data) => engine.awaitBudget(runId, data),
    };
  }

  async run(runId: string): Promise<RunRecord | undefined> {
    return this.#durable(this.#engine.reads.run(runId));
  }

  async runs(options?: RunListOptions): Promise<RunPage> {
    return this.#durable(this.#engine.reads.runs(options));
  }

  async items(runId: string): Promise<ItemRecord[]> {
    return this.#durable(this.#engine.reads.items(runId));
  }

  async approvals(runId: string): Promise<ItemApprovalRecord[]> {
    return this.#durable(this.#engine.reads.approvals(runId));
  }

  async graphItems(runId: string, selection: GraphItemSelection): Promise<GraphItemRecord[]> {
    return this.#durable(this.#engine.reads.graphItems(runId, selection));
  }

  async spec(runId: string): Promise<RunSpecV1 | undefined> {
    return this.#durable(this.#engine.reads.spec(runId));
  }

  async artifacts(runId: string, itemId: string): Promise<Readonly<Record<string, string>> | undefined> {
    return this.#durable(this.#engine.reads.artifacts(runId, itemId));
  }

  async attempts(runId: string, itemId: string): Promise<ItemAttemptRecord[]> {
    return this.#durable(this.#engine.reads.attempts(runId, itemId));
  }

  async schedules(): Promise<ScheduleRecord[]> {
    return this.#durable(this.#engine.reads.schedules());
  }

  async secrets(): Promise<SecretRecord[]> {
    return this.#durable(this.#engine.reads.secrets());
  }

  async health(): Promise<EngineHealth> {
    return this.#engine.health();
  }

  async metrics(): Promise<EngineMetrics> {
    return this.#engine.metrics();
  }

  exportBundle(runId: string): Promise<EvidenceBundleV1> {
    return this.#engine.exportBundle(runId);
  }

  async auditSize(): Promise<number> {
    return this.#engine.reads.auditSize();
  }

  auditEntries(query?: AuditQuery): AsyncIterable<AuditEntry> {
    return this.#engine.reads.auditQuery(query);
  }

  events(options?: EngineEventsOptions): AsyncIterable<CairnEvent> {
    return this.#engine.events(options);
  }

  // Every command goes this way: the engine's own method (the table's `call`), answered once
  // what it changed is durable. Async, so that a command the engine refuses at once rejects.
  async #dispatch<Kind extends ServiceCommandKind>(kind: Kind, args: ServiceCommandArguments[Kind]): Promise<EngineCommandResults[Kind]> {
    return this.#durable(serviceCommands[kind].call(this.#engine, ...args));
  }

  // A command's answer once what it changed is durable, a read's once what it read is (read first,
  // then waited for: the wait covers everything written before it began). The commands are async,
  // so one that throws rejects (its CairnError) before anything is waited for.
  async #durable<T>(answer: T | Promise<T>): Promise<T> {
    const value = await answer;
    await this.#engine.committed();
    return value;
  }
}

// The command methods: the table's, assigned in the constructor (`engineCommandMethods`).
export interface InProcessEngineService extends EngineCommandMethods {}
