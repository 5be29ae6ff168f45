export { AuditLog } from './audit/audit-log.ts';
export type { AuditEntryDraft, AuditLogSettings } from './audit/audit-log.ts';
export { SqliteMerkleNodeStore } from './audit/sqlite-merkle-node-store.ts';
export { migrations } from './database/migrations.ts';
export type { Migration } from './database/migrations.ts';
export { openEngineDatabase } from './database/open-engine-database.ts';
export type { EngineDatabase } from './database/open-engine-database.ts';
export const VERSION = '0.1.0';
