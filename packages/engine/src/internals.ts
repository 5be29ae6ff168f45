// What the engine is made of, for a program that composes its own loop and for the reference
// server's tools: no stability promise beyond the package's version. These declarations name
// better-sqlite3's types: type-checking against them needs `@types/better-sqlite3`.
export { AuditLog } from './audit/audit-log.ts';
export type { AuditLogSettings } from './audit/audit-log.ts';
export { lowestStoredNodeLevel, SqliteMerkleNodeStore } from './store/sqlite/sqlite-merkle-node-store.ts';
export { Checkpointer } from './audit/checkpointer.ts';
export type { CheckpointerSettings, StoredCheckpoint } from './audit/checkpointer.ts';
export { AuditQueryReader } from './store/sqlite/audit-query.ts';
export { migrations } from './store/sqlite/migrations.ts';
export type { Migration } from './store/sqlite/migrations.ts';
export { openEngineDatabase } from './store/sqlite/open-engine-database.ts';
export { RunStateMachine } from './state/run-state-machine.ts';
export type { ItemOutcome, RunStateMachineSettings } from './state/run-state-machine.ts';
export { StateCountsReader } from './store/sqlite/state-counts.ts';
export { RunHistory } from './store/sqlite/run-history.ts';
export { SecretStore } from './secrets/secret-store.ts';
export { PureResults } from './store/sqlite/pure-results.ts';
export type { PureResult } from './store/sqlite/pure-results.ts';
export { AttemptStore } from './store/sqlite/attempt-store.ts';
export type { AttemptRecord } from './store/sqlite/attempt-store.ts';
export { Dispatcher } from './dispatch/dispatcher.ts';
export type { DispatcherSettings } from './dispatch/dispatcher.ts';
export { declaredLocks, LockTable } from './store/sqlite/lock-table.ts';
export type { HeldLock } from './store/sqlite/lock-table.ts';
export { retryDelay } from './retry-delay.ts';
export { InboxIngester, inboxActor } from './inbox/inbox-ingester.ts';
export type { InboxIngesterSettings, InboxPoll } from './inbox/inbox-ingester.ts';
export { ScheduleBook } from './schedules/schedule-book.ts';
export type { ScheduleBookSettings } from './schedules/schedule-book.ts';
export { dueSlots } from './schedules/schedule-slots.ts';
export type { DueSlots } from './schedules/schedule-slots.ts';
// The state store (ADR 0023): change capture on a working copy, and the PostgreSQL backend.
export { captureChanges, engineTables } from './store/change-capture.ts';
export type { CapturedTable, ChangeBatch, ChangeCapture, TableChanges } from './store/change-capture.ts';
export {
  connectPostgres,
  defaultLockKeyOf,
  defaultPostgresLockKey,
  describePostgresTarget,
  parsePostgresStateSettings,
} from './store/postgres/postgres-settings.ts';
export type { PostgresConnectionPurpose, ResolvedPostgresStateSettings } from './store/postgres/postgres-settings.ts';
export { migratePostgresSchema, postgresMigrations, postgresOnlyTables, quotedSchema } from './store/postgres/postgres-schema.ts';
export { isPostgresUnavailable, postgresUnavailable } from './store/postgres/postgres-unavailable.ts';
export type { PostgresMigration, PostgresMigrationLedger } from './store/postgres/postgres-schema.ts';
export { createPostgresStateStore, PostgresStateStore } from './store/postgres/postgres-state-store.ts';
export type { AcquireWriterOptions } from './store/postgres/postgres-state-store.ts';
export { PostgresWriter } from './store/postgres/postgres-writer.ts';
export type { CommitOutcome } from './store/postgres/postgres-writer.ts';
export type { LoadOutcome } from './store/postgres/postgres-working-copy-load.ts';
export { engineCommandKinds } from './store/engine-commands.ts';
export type { EngineCommandKind } from './store/engine-commands.ts';
export {
  commandChannels,
  commandErrorFromJson,
  commandErrorJson,
  createPostgresCommandSender,
  PostgresCommandSender,
} from './store/postgres/postgres-commands.ts';
export type { CommandResult, PendingCommand, PostgresCommandSenderSettings, SendCommandOptions } from './store/postgres/postgres-commands.ts';
export { postgresClientConfig } from './store/postgres/postgres-settings.ts';
export { openPostgresEngineReads, PostgresEngineReads } from './store/postgres/postgres-engine-reads.ts';
export type { PostgresQuery } from './store/postgres/postgres-engine-reads.ts';
export { createPostgresEngineLeader, PostgresEngineLeader } from './store/postgres-engine-leader.ts';
export type { PostgresEngineLeaderSettings } from './store/postgres-engine-leader.ts';
export { GroupCommitter } from './store/group-committer.ts';
export { WorkingCopy } from './store/sqlite/working-copy.ts';
export { nothingToWaitFor } from './store/group-commit.ts';
export type { GroupCommit } from './store/group-commit.ts';
export { carryOutCommand, sealedSecretContext } from './store/engine-commands.ts';
export type { EngineCommandPayloads } from './store/engine-commands.ts';
export { InProcessEngineService } from './in-process-engine-service.ts';
export { readOnlyAuditLog } from './audit/read-only-audit-log.ts';
export { hostAuditWriterOver } from './host-audit/host-audit-writer-over.ts';
export { hostAuditDraft } from './host-audit/host-audit-draft.ts';
export { hostAuditActions, hostAuditRecordSchema } from './host-audit/host-audit-record.ts';
export type { HostAuditAction, HostAuditRecord } from './host-audit/host-audit-record.ts';
export { createPostgresEngineService, PostgresEngineService } from './store/postgres/postgres-engine-service.ts';
export type { PostgresEngineServiceSettings } from './store/postgres/postgres-engine-service.ts';
