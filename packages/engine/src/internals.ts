// What the engine is made of, for a program that composes its own loop and for the reference
// server's tools: no stability promise beyond the package's version. Only what is used outside the
// package (the server, other packages' tests, benchmarks, docs) is exported. These declarations name
// better-sqlite3's types: type-checking against them needs `@types/better-sqlite3`.
export { AuditLog } from './audit/audit-log.ts';
export { lowestStoredNodeLevel } from './store/sqlite/sqlite-merkle-node-store.ts';
export { openEngineDatabase } from './store/sqlite/open-engine-database.ts';
export { RunStateMachine } from './state/run-state-machine.ts';
export { InboxIngester } from './inbox/inbox-ingester.ts';
// The state store (ADR 0023): change capture on a working copy, and the PostgreSQL backend.
export { captureChanges } from './store/change-capture.ts';
export { connectPostgres, defaultLockKeyOf, describePostgresTarget, parsePostgresStateSettings } from './store/postgres/postgres-settings.ts';
export { migratePostgresSchema, postgresMigrations, quotedSchema } from './store/postgres/postgres-schema.ts';
export { postgresUnavailable } from './store/postgres/postgres-unavailable.ts';
export type { PostgresMigration, PostgresMigrationLedger } from './store/postgres/postgres-schema.ts';
export { createPostgresStateStore } from './store/postgres/postgres-state-store.ts';
export { PostgresWriter } from './store/postgres/postgres-writer.ts';
export { postgresClientConfig } from './store/postgres/postgres-settings.ts';
export { openPostgresEngineReads } from './store/postgres/postgres-engine-reads.ts';
export { createPostgresEngineLeader } from './store/postgres-engine-leader.ts';
export { WorkingCopy } from './store/sqlite/working-copy.ts';
