import { hostname } from 'node:os';
import type pg from 'pg';
import { CairnError } from '@cairn/protocol';
import type { JsonValue } from '@cairn/core';
import type { EngineDatabase } from '../shared/engine-database.ts';
import type { ChangeBatch, ChangeCapture } from '../change-capture.ts';
import { isEngineCommandKind } from '../engine-commands.ts';
import { auditGapState, commitConflict, commitStatements } from './postgres-commit-statements.ts';
import { commandChannels, type CommandResult, type PendingCommand } from './postgres-commands.ts';
import { quotedSchema } from './postgres-schema.ts';
import { describePostgresTarget, type ResolvedPostgresStateSettings } from './postgres-settings.ts';
import { storeTables, type StoreTable } from './postgres-store-tables.ts';
import { loadWorkingCopy, type LoadOutcome } from './postgres-working-copy-load.ts';

/** What a commit did. */
export interface CommitOutcome {
  /** The audit tree size after the commit (last seq + 1); null when the batch added no audit entry. */
  readonly treeSize: number | null;
  /** Rows written (upserted or deleted) across all tables. */
  readonly rows: number;
}

/**
 * The engine that holds the writer lease: loads the working copy, commits batches and takes
 * commands, all on the one connection whose session holds the lock. A commit is never made on any
 * other connection, so a writer that lost its lease cannot write.
 */
export class PostgresWriter {
  readonly instanceId: string;
  /** The PostgreSQL backend process of the lease connection (what `pg_terminate_backend` ends), as the server names it. */
  readonly backendPid: number;
  /** Resolves (never rejects) with why, when the lease connection ends: the lease is gone. */
  readonly lost: Promise<Error>;
  readonly #client: pg.Client;
  readonly #settings: ResolvedPostgresStateSettings;
  readonly #schema: string;
  readonly #tables: ReadonlyMap<string, StoreTable>;
  readonly #commandListeners = new Set<() => void>();
  #lostReason: Error | undefined;
  #released = false;

  private constructor(
    client: pg.Client,
    settings: ResolvedPostgresStateSettings,
    instanceId: string,
    backendPid: number,
    tables: ReadonlyMap<string, StoreTable>,
  ) {
    this.#client = client;
    this.#settings = settings;
    this.#schema = quotedSchema(settings.schema);
    this.#tables = tables;
    this.instanceId = instanceId;
    this.backendPid = backendPid;
    this.lost = new Promise<Error>((resolve) => {
      const lose = (error?: Error) => {
        if (this.#lostReason !== undefined) return;
        this.#lostReason = new CairnError(
          'CAIRN_STATE_UNAVAILABLE',
          this.#released
            ? `The writer lease of instance ${instanceId} was released.`
            : `The writer lease of instance ${instanceId} is lost: its connection to ${describePostgresTarget(client)} ended${error === undefined ? '' : ` (${error.message})`}. The engine must stop; another replica (or this one, once the database answers) takes the lease and reloads the state.`,
          { path: 'engine.state', ...(error === undefined ? {} : { cause: error }) },
        );
        resolve(this.#lostReason);
      };
      client.on('error', lose);
      client.on('end', () => lose());
    });
    client.on('notification', (message) => {
      if (message.channel !== commandChannels(settings.schema).commands) return;
      for (const listener of this.#commandListeners) listener();
    });
  }

  /** Takes over a connection that holds the lock: records the leader, re-opens commands a lost writer had taken, LISTENs for commands. */
  static async start(client: pg.Client, settings: ResolvedPostgresStateSettings, instanceId: string): Promise<PostgresWriter> {
    const schema = quotedSchema(settings.schema);
    const tables = await storeTables(client, settings.schema);
    let backendPid: number;
    await client.query('BEGIN');
    try {
      const { rows } = await client.query<{ backend_pid: string }>(
        `INSERT INTO ${schema}.engine_leader (lock_key, instance_id, host, pid, backend_pid, since, heartbeat_at)
         VALUES ($1, $2, $3, $4, pg_backend_pid(), now(), now())
         ON CONFLICT (lock_key) DO UPDATE SET instance_id = EXCLUDED.instance_id, host = EXCLUDED.host, pid = EXCLUDED.pid,
           backend_pid = EXCLUDED.backend_pid, since = EXCLUDED.since, heartbeat_at = EXCLUDED.heartbeat_at
         RETURNING backend_pid`,
        [settings.lockKey, instanceId, hostname(), process.pid],
      );
      backendPid = Number(rows[0]!.backend_pid);
      // A command taken by a writer that lost its lease before committing its result made no
      // durable change (the result commits with the state): it is carried out again.
      await client.query(`UPDATE ${schema}.engine_commands SET state = 'pending' WHERE state = 'taken'`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
    await client.query(`LISTEN "${commandChannels(settings.schema).commands}"`);
    return new PostgresWriter(client, settings, instanceId, backendPid, tables);
  }

  /** True once the lease connection has ended. */
  get isLost(): boolean {
    return this.#lostReason !== undefined;
  }

  /**
   * Copies every engine table from PostgreSQL into `workingCopy`, which must be empty (a fresh
   * `openEngineDatabase(':memory:')`), with capture off (pass the capture if it is installed).
   * Each table is read in pages by primary key (items in run and spec order, so rowids keep
   * FIFO order among items ready in the same millisecond) and inserted by SQLite itself from the
   * page's JSON, in one working-copy transaction; foreign keys are checked at its end.
   */
  async load(workingCopy: EngineDatabase, capture?: ChangeCapture, options: { readonly pageSize?: number } = {}): Promise<LoadOutcome> {
    this.#assertHeld();
    return loadWorkingCopy({ client: this.#client, schema: this.#settings.schema, tables: this.#tables }, workingCopy, capture, options.pageSize);
  }

  /**
   * Writes a batch (whole working-copy transactions) and the results of the commands it carried
   * out in ONE PostgreSQL transaction on the lease connection, sent as ONE message (one round
   * trip, which is most of a small commit's cost): per table one delete and one upsert statement
   * (`json_populate_recordset` over the batch's rows, inlined as dollar-quoted literals), then the
   * command results. The batch's audit entries must continue the stored sequence exactly (first =
   * stored last + 1, no gap, no rewrite), checked inside the transaction: anything else means
   * another writer, and the commit is refused (CAIRN_STATE_CONFLICT) with nothing written.
   * Listeners are told at commit: `<schema>_audit` with the new tree size, `<schema>_command_done`
   * with each answered command's id. A writer whose lease is lost, or lost during the commit,
   * refuses with CAIRN_STATE_UNAVAILABLE; when the connection dies while the commit is in flight
   * its outcome is unknown, which the next writer settles by loading what is stored.
   */
  async commit(batch: ChangeBatch, commandResults: readonly CommandResult[] = []): Promise<CommitOutcome> {
    this.#assertHeld();
    if (batch.tables.length === 0 && commandResults.length === 0) return { treeSize: null, rows: 0 };
    const { sql, modifications, lastSeq } = commitStatements(batch, commandResults, this.#tables, this.#settings.schema);
    const client = this.#client;
    let results: pg.QueryResult | pg.QueryResult[];
    try {
      results = await client.query(sql);
    } catch (error) {
      if ((error as { code?: unknown }).code === auditGapState) throw commitConflict(this.#settings.schema, (error as Error).message);
      if (this.isLost || !(error instanceof Error && 'severity' in error)) {
        throw new CairnError(
          'CAIRN_STATE_UNAVAILABLE',
          `The commit of instance ${this.instanceId} did not reach ${describePostgresTarget(client)}: ${(error as Error).message}. The lease is lost with the connection; whether the batch was stored is unknown until the next writer loads what is.`,
          { path: 'engine.state', cause: error },
        );
      }
      throw new CairnError(
        'CAIRN_INTERNAL',
        `PostgreSQL refused a commit of the engine's state: ${(error as Error).message}. Nothing of the batch was written.`,
        {
          cause: error,
        },
      );
    }
    const list = Array.isArray(results) ? results : [results];
    const rows = modifications.reduce((sum, index) => sum + (list[index]?.rowCount ?? 0), 0);
    return { treeSize: lastSeq === undefined ? null : lastSeq + 1, rows };
  }

  /**
   * Takes up to `limit` pending commands in id order, marking them taken (so a sender that gives
   * up cannot withdraw a command being carried out). Their results go into a later `commit`.
   */
  async takeCommands(limit: number): Promise<PendingCommand[]> {
    this.#assertHeld();
    const { rows } = await this.#client.query<{ id: string; kind: string; payload: JsonValue; actor: JsonValue | null }>(
      `UPDATE ${this.#schema}.engine_commands SET state = 'taken'
       WHERE id IN (SELECT id FROM ${this.#schema}.engine_commands WHERE state = 'pending' ORDER BY id LIMIT $1)
       RETURNING id, kind, payload, actor`,
      [limit],
    );
    const taken: PendingCommand[] = [];
    for (const row of rows.sort((left, right) => Number(left.id) - Number(right.id))) {
      if (!isEngineCommandKind(row.kind)) {
        // A newer replica's command this engine does not know: answered at once, not lost.
        await this.commit({ tables: [], capturedWrites: 0 }, [
          {
            id: Number(row.id),
            ok: false,
            error: new CairnError('CAIRN_PAYLOAD_INVALID', `The engine does not know the command kind "${row.kind}": run every replica on one Cairn version.`, {
              path: 'engine_commands.kind',
            }),
          },
        ]);
        continue;
      }
      taken.push({ id: Number(row.id), kind: row.kind, payload: row.payload, actor: row.actor });
    }
    return taken;
  }

  /** Calls `listener` when a replica sends a command (NOTIFY on the lease connection). Returns the unsubscribe. */
  onCommandsPending(listener: () => void): () => void {
    this.#commandListeners.add(listener);
    return () => this.#commandListeners.delete(listener);
  }

  /** Records that the writer is alive in `engine_leader` (optional: the lock is the truth). */
  async heartbeat(): Promise<void> {
    this.#assertHeld();
    await this.#client.query(`UPDATE ${this.#schema}.engine_leader SET heartbeat_at = now() WHERE lock_key = $1 AND backend_pid = pg_backend_pid()`, [
      this.#settings.lockKey,
    ]);
  }

  /** Gives the lease up: unlocks, clears the leader record, ends the connection. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    if (this.#lostReason === undefined) {
      await this.#client
        .query(`DELETE FROM ${this.#schema}.engine_leader WHERE lock_key = $1 AND backend_pid = pg_backend_pid()`, [this.#settings.lockKey])
        .catch(() => {});
      await this.#client.query('SELECT pg_advisory_unlock($1::bigint)', [this.#settings.lockKey]).catch(() => {});
    }
    await this.#client.end().catch(() => {});
  }

  #assertHeld(): void {
    if (this.#lostReason !== undefined) throw this.#lostReason;
  }
}
