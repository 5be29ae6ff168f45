// The face a library consumer composes an engine with. Building blocks the engine is made of (the
// audit log class, the state machine, the dispatcher, the database opener, ...) are in
// `@cairn/engine/internals`; tests/engine-public-face.test.ts pins this list.
export { createEngine, Engine, engineSettingsSchema } from './engine.ts';
export type { EngineSettings } from './engine.ts';
export { createEngineHost, EngineHost, engineHostSettingsSchema, engineStateSettingsSchema } from './host/engine-host.ts';
export type { EngineHostSettings, LeaderTask } from './host/engine-host.ts';
export { postgresStateSettingsSchema } from './store/postgres/postgres-settings.ts';
export type { PostgresStateSettings } from './store/postgres/postgres-settings.ts';
export type { EngineDatabase, EngineStatement, EngineTransaction } from './store/sqlite/engine-database.ts';
export type { EngineObserver } from './engine-observer.ts';
export type { EngineHealth } from './engine-health.ts';
export type { EngineMetrics } from './engine-metrics.ts';
export type { EngineEventsOptions, EngineService } from './engine-service.ts';
export type { EngineReads, GraphItemRecord, GraphItemSelection } from './store/engine-reads.ts';
export type { AccessDenial, HostAuditWriter } from './host-audit/host-audit-writer.ts';
export type { SignerTakeOver } from './audit/checkpointer.ts';
export { engineNodeFlags } from './node-flags.ts';
export type { EngineAuditLog } from './audit/engine-audit-log.ts';
export type { AuditEntryDraft } from './audit/audit-log.ts';
export type { AuditQuery } from './store/sqlite/audit-query.ts';
export { eventOfEntry } from './events/event-of-entry.ts';
export { checkFragmentAgainstSpec } from './state/run-fragment.ts';
export type { CheckedFragment } from './state/run-fragment.ts';
export type { SubmitOptions, SubmitResult } from './state/run-state-machine.ts';
export type { ItemRecord, RunRecord } from './state/run-records.ts';
export type { ApprovalVoteRecord, ItemApprovalRecord } from './state/approval-records.ts';
export type { Voter } from './state/approval-votes.ts';
export type { ItemAttemptRecord, LockWait } from './store/sqlite/attempt-store.ts';
export { isRunCursor, isRunListTime, runListLimits } from './store/sqlite/run-history.ts';
export type { RunListOptions, RunPage, RunSummary } from './store/sqlite/run-history.ts';
export type { StateCounts } from './store/sqlite/state-counts.ts';
export type { SecretRecord } from './secrets/secret-store.ts';
export type { AttemptGatewayIssuer, GatewayAttempt } from './dispatch/attempt-gateway.ts';
export type { LiveAttempt, ModelCall } from './dispatch/model-call-recorder.ts';
export type { ModelCallAccess } from './model-call-access.ts';
export type { OverlapPolicy, ScheduleDefinition, ScheduleRecord } from './schedules/schedule-book.ts';
export type { CatchUpPolicy } from './schedules/schedule-slots.ts';
export const VERSION = '0.1.0';
