import type { EngineDatabase, EngineTransaction } from '../shared/engine-database.ts';
import { ApprovalVoteTable } from './approval-vote-table.ts';
import { AttemptStore } from './attempt-store.ts';
import { AuditEntryTable } from './audit-entry-table.ts';
import { AuditQueryReader } from './audit-query.ts';
import { CheckpointTable } from './checkpoint-table.ts';
import { flushDeferredWrites, isInTransaction } from './deferred-writes.ts';
import { LockTable } from './lock-table.ts';
import { PureResults } from './pure-results.ts';
import { rollbacksOf } from './rollback-watch.ts';
import { RunHistory } from './run-history.ts';
import type { DispatchOrderSettings } from './dispatch-order.ts';
import { RunStore } from './run-store.ts';
import { ScheduleTable } from './schedule-table.ts';
import { SecretTable } from './secret-table.ts';
import { SigningKeyRecords } from './signing-key-records.ts';
import { SqliteMerkleNodeStore } from './sqlite-merkle-node-store.ts';
import { StateCountsReader } from './state-counts.ts';

/**
 * The WAL pages after which a commit the engine's database checkpoints its WAL into its file (SQLite's default
 * is 1,000). Each checkpoint costs two fsyncs in the middle of whatever the engine is doing: at
 * 1,000 pages a chain of 1,000 quick items made 44 of them, one every twenty-odd hops, most of the
 * hop's p99. The WAL holds up to about 40 MB between checkpoints (a checkpoint copies only the
 * pages written since, which are far fewer).
 */
const walAutoCheckpointPages = 10_000;

// Spelled as `EngineDatabase.transaction` spells it.
type TransactionBody = (...parameters: any[]) => unknown;

/**
 * The engine's state as the engine decides on it: one SQLite database (the state file itself, or,
 * with PostgreSQL, the in-memory copy the leader loads and commits from) and every table over it,
 * each built once. The rest of the engine reads and writes through these tables and runs its
 * transactions here: no SQL and no database handle outside `store/`.
 */
export class WorkingCopy {
  /** The database, for the store's own parts (the commit, change capture, loading); nothing else. */
  readonly database: EngineDatabase;
  readonly runs: RunStore;
  readonly attempts: AttemptStore;
  readonly locks: LockTable;
  readonly pureResults: PureResults;
  readonly history: RunHistory;
  readonly counts: StateCountsReader;
  readonly signingKeys: SigningKeyRecords;
  readonly auditEntries: AuditEntryTable;
  readonly merkleNodes: SqliteMerkleNodeStore;
  readonly auditQueries: AuditQueryReader;
  readonly checkpoints: CheckpointTable;
  readonly secrets: SecretTable;
  readonly schedules: ScheduleTable;
  readonly approvalVotes: ApprovalVoteTable;

  /** `order`: how ready items are ordered (`priorityAgingSeconds`); the engine's default when absent. */
  constructor(database: EngineDatabase, order?: DispatchOrderSettings) {
    this.database = database;
    database.pragma(`wal_autocheckpoint = ${walAutoCheckpointPages}`);
    this.runs = new RunStore(database, order);
    this.attempts = new AttemptStore(database);
    this.locks = new LockTable(database);
    this.pureResults = new PureResults(database);
    this.history = new RunHistory(database);
    this.counts = new StateCountsReader(database);
    this.signingKeys = new SigningKeyRecords(database);
    this.auditEntries = new AuditEntryTable(database);
    this.merkleNodes = new SqliteMerkleNodeStore(database);
    this.auditQueries = new AuditQueryReader(database);
    this.checkpoints = new CheckpointTable(database);
    this.secrets = new SecretTable(database);
    this.schedules = new ScheduleTable(database);
    this.approvalVotes = new ApprovalVoteTable(database);
  }

  /** Wraps `body` so that calling the result runs it in one transaction (a savepoint inside one). */
  transaction<Body extends TransactionBody>(body: Body): EngineTransaction<Body> {
    return this.database.transaction(body);
  }

  /** Runs `work` in the transaction running now, or in a transaction of its own when none is. */
  inTransaction<T>(work: () => T): T {
    return isInTransaction(this.database) ? work() : this.database.transaction(work)();
  }

  /** Whether a transaction is running now. */
  get transacting(): boolean {
    return isInTransaction(this.database);
  }

  /** Writes the rows the running transaction has held back so far (before reading them back). */
  flushDeferredWrites(): void {
    flushDeferredWrites(this.database);
  }

  /** How many transactions have rolled back so far (undefined for a database opened without the watch). */
  get rollbacks(): number | undefined {
    return rollbacksOf(this.database);
  }

  /**
   * A write that needs room on the disk and changes nothing: SQLite rewrites the header page (with
   * the same schema version) into the WAL at commit. Throws SQLITE_FULL while the disk is full.
   */
  probeStorage(): void {
    this.database.transaction(() => {
      const version = this.database.pragma('user_version', { simple: true }) as number;
      this.database.pragma(`user_version = ${version}`);
    })();
  }
}
