import { hostname } from 'node:os';
import type pg from 'pg';
import { CairnError } from '@cairn/protocol';
import type { JsonValue } from '@cairn/core';
import type { EngineDatabase } from '../../database/engine-database.ts';
import { engineTables, type CapturedTable, type ChangeBatch, type ChangeCapture } from '../change-capture.ts';
import { commandChannels, commandErrorJson, engineCommandKinds, type CommandResult, type EngineCommandKind, type PendingCommand } from './postgres-commands.ts';
import {
  connectPostgres,
  describePostgresTarget,
  parsePostgresStateSettings,
  type PostgresStateSettings,
  type ResolvedPostgresStateSettings,
} from './postgres-settings.ts';
import { migratePostgresSchema, postgresOnlyTables, quotedSchema } from './postgres-schema.ts';

/** The audit table and its sequence column: the one table whose keys the commit checks. */
const auditTable = 'audit_entries';

export interface AcquireWriterOptions {
  /** Gives up waiting for the lease (the promise rejects with the signal's reason). */
  readonly signal?: AbortSignal;
  /** This replica's name in `engine_leader` (for doctor and operators). */
  readonly instanceId: string;
  /** How often to try the lock while another replica holds it (ms); default 250. */
  readonly retryIntervalMs?: number;
}

/** What a commit did. */
export interface CommitOutcome {
  /** The audit tree size after the commit (last seq + 1); null when the batch added no audit entry. */
  readonly treeSize: number | null;
  /** Rows written (upserted or deleted) across all tables. */
  readonly rows: number;
}

/** How many rows of each table `load` copied. */
export type LoadOutcome = Readonly<Record<string, number>>;

/**
 * The engine's state in PostgreSQL: the schema, the writer lease and the commits of the engine
 * that holds it. One engine writes (the holder of a session advisory lock on the connection it
 * commits with); every other replica only reads and sends commands (`PostgresCommandSender`).
 */
export class PostgresStateStore {
  readonly settings: ResolvedPostgresStateSettings;
  readonly #schema: string;
  #migrated: Promise<void> | undefined;

  constructor(settings: PostgresStateSettings) {
    this.settings = parsePostgresStateSettings(settings);
    this.#schema = quotedSchema(this.settings.schema);
  }

  /** Creates or upgrades the schema (idempotent; replicas may call it together). */
  async migrate(): Promise<void> {
    this.#migrated ??= (async () => {
      const client = await connectPostgres(this.settings, 'migrate');
      try {
        await migratePostgresSchema(client, this.settings.schema);
      } finally {
        await client.end().catch(() => {});
      }
    })().catch((error: unknown) => {
      this.#migrated = undefined;
      throw error;
    });
    return this.#migrated;
  }

  /**
   * Waits until this replica holds the writer lease: a session-level `pg_try_advisory_lock` on a
   * dedicated connection, tried every `retryIntervalMs` (never a blocking `pg_advisory_lock`, which
   * an abort could not interrupt). The lock lives as long as that connection: when it ends for any
   * reason (the server restarts, the network drops, an operator terminates the backend) the lease
   * is gone with it and `writer.lost` resolves. A connection that fails while waiting is made
   * again; one refused from the start (wrong password, no such database) rejects at once.
   */
  async acquireWriter(options: AcquireWriterOptions): Promise<PostgresWriter> {
    await this.migrate();
    const retryIntervalMs = options.retryIntervalMs ?? 250;
    let client: pg.Client | undefined;
    for (;;) {
      options.signal?.throwIfAborted();
      try {
        client ??= await connectPostgres(this.settings, 'writer');
        const { rows } = await client.query<{ held: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS held', [this.settings.lockKey]);
        if (rows[0]!.held) break;
      } catch (error) {
        // The first connection's refusal is a configuration problem: say so at once.
        if (client === undefined) throw error;
        await client.end().catch(() => {});
        client = undefined;
      }
      try {
        await sleep(retryIntervalMs, options.signal);
      } catch (error) {
        await client?.end().catch(() => {});
        throw error;
      }
    }
    try {
      return await PostgresWriter.start(client, this.settings, options.instanceId);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
  }

  /** Who holds the writer lease now, from `pg_locks` (the truth) and `engine_leader` (who said so). */
  async leader(
    client: pg.Client,
  ): Promise<{ readonly held: boolean; readonly instanceId: string | null; readonly host: string | null; readonly pid: number | null }> {
    const { rows } = await client.query<{ held: boolean; instance_id: string | null; host: string | null; pid: string | null }>(
      `SELECT EXISTS (
                SELECT 1 FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = $1::bigint::oid AND objsubid = 1
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              ) AS held, l.instance_id, l.host, l.pid
       FROM (SELECT 1) AS one LEFT JOIN ${this.#schema}.engine_leader AS l ON l.lock_key = $1`,
      [this.settings.lockKey],
    );
    const row = rows[0]!;
    return {
      held: row.held,
      instanceId: row.held ? row.instance_id : null,
      host: row.held ? row.host : null,
      pid: row.held && row.pid !== null ? Number(row.pid) : null,
    };
  }
}

/** Makes the PostgreSQL state store from its settings (validated here). */
export function createPostgresStateStore(settings: PostgresStateSettings): PostgresStateStore {
  return new PostgresStateStore(settings);
}

interface StoreTable {
  readonly name: string;
  readonly columns: readonly string[];
  readonly primaryKey: readonly string[];
  /** Column name to PostgreSQL type (for keyset paging). */
  readonly types: Readonly<Record<string, string>>;
  upsertSql: string;
  deleteSql: string;
}

/**
 * The engine that holds the writer lease: loads the working copy, commits batches and takes
 * commands, all on the one connection whose session holds the lock. A commit is never made on any
 * other connection, so a writer that lost its lease cannot write.
 */
export class PostgresWriter {
  readonly instanceId: string;
  /** Resolves (never rejects) with why, when the lease connection ends: the lease is gone. */
  readonly lost: Promise<Error>;
  readonly #client: pg.Client;
  readonly #settings: ResolvedPostgresStateSettings;
  readonly #schema: string;
  readonly #tables: ReadonlyMap<string, StoreTable>;
  readonly #commandListeners = new Set<() => void>();
  #lostReason: Error | undefined;
  #released = false;

  private constructor(client: pg.Client, settings: ResolvedPostgresStateSettings, instanceId: string, tables: ReadonlyMap<string, StoreTable>) {
    this.#client = client;
    this.#settings = settings;
    this.#schema = quotedSchema(settings.schema);
    this.#tables = tables;
    this.instanceId = instanceId;
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
    await client.query('BEGIN');
    try {
      await client.query(
        `INSERT INTO ${schema}.engine_leader (lock_key, instance_id, host, pid, backend_pid, since, heartbeat_at)
         VALUES ($1, $2, $3, $4, pg_backend_pid(), now(), now())
         ON CONFLICT (lock_key) DO UPDATE SET instance_id = EXCLUDED.instance_id, host = EXCLUDED.host, pid = EXCLUDED.pid,
           backend_pid = EXCLUDED.backend_pid, since = EXCLUDED.since, heartbeat_at = EXCLUDED.heartbeat_at`,
        [settings.lockKey, instanceId, hostname(), process.pid],
      );
      // A command taken by a writer that lost its lease before committing its result made no
      // durable change (the result commits with the state): it is carried out again.
      await client.query(`UPDATE ${schema}.engine_commands SET state = 'pending' WHERE state = 'taken'`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
    await client.query(`LISTEN "${commandChannels(settings.schema).commands}"`);
    return new PostgresWriter(client, settings, instanceId, tables);
  }

  /** True once the lease connection has ended. */
  get isLost(): boolean {
    return this.#lostReason !== undefined;
  }

  /** The PostgreSQL backend process of the lease connection (what `pg_terminate_backend` ends). */
  get backendPid(): number {
    return (this.#client as unknown as { processID: number }).processID;
  }

  /**
   * Copies every engine table from PostgreSQL into `workingCopy`, which must be empty (a fresh
   * `openEngineDatabase(':memory:')`), with capture off (pass the capture if it is installed).
   * Each table is read in pages by primary key (items in run and spec order, so rowids keep
   * FIFO order among items ready in the same millisecond) and inserted by SQLite itself from the
   * page's JSON, in one working-copy transaction; foreign keys are checked at its end.
   */
  async load(workingCopy: EngineDatabase, capture?: ChangeCapture): Promise<LoadOutcome> {
    this.#assertHeld();
    const tables = engineTables(workingCopy);
    for (const table of tables) {
      const stored = this.#tables.get(table.name);
      if (stored === undefined || stored.columns.length !== table.columns.length || table.columns.some((column) => !stored.columns.includes(column)))
        throw new CairnError(
          'CAIRN_CONFIG_INVALID',
          `The PostgreSQL schema "${this.#settings.schema}" does not match the engine's table ${table.name}: the engine has columns ${table.columns.join(', ')}, PostgreSQL ${stored?.columns.join(', ') ?? 'no such table'}. Run every replica on one Cairn version.`,
          { path: 'engine.state.schema' },
        );
      const count = workingCopy.prepare<[], number>(`SELECT count(*) FROM main."${table.name}"`).pluck().get();
      if (count !== 0) throw new Error(`The working copy must be empty before load, but table ${table.name} has ${count} rows.`);
    }
    const pages: { table: CapturedTable; rows: string }[] = [];
    const counts: Record<string, number> = {};
    for (const table of tables) {
      const stored = this.#tables.get(table.name)!;
      const order = table.name === 'items' ? ['run_id', 'position', 'item_id'] : stored.primaryKey;
      counts[table.name] = 0;
      let after: string[] | undefined;
      for (;;) {
        const keyset =
          after === undefined
            ? ''
            : `WHERE (${order.map((column) => `t."${column}"`).join(', ')}) > (${order.map((column, index) => `$${index + 2}::${stored.types[column]}`).join(', ')})`;
        const { rows } = await this.#client.query<Record<string, string>>(
          `SELECT row_to_json(t)::text AS "row", ${order.map((column, index) => `t."${column}"::text AS "k${index}"`).join(', ')}
           FROM ${this.#schema}."${table.name}" AS t ${keyset}
           ORDER BY ${order.map((column) => `t."${column}"`).join(', ')} LIMIT $1`,
          [loadPageSize, ...(after ?? [])],
        );
        if (rows.length === 0) break;
        pages.push({ table, rows: `[${rows.map((row) => row['row']).join(',')}]` });
        counts[table.name]! += rows.length;
        if (rows.length < loadPageSize) break;
        const last = rows.at(-1)!;
        after = order.map((_, index) => last[`k${index}`]!);
      }
    }
    const inserts = new Map(tables.map((table) => [table.name, workingCopy.prepare<[string]>(insertFromJson(table))]));
    const copy = workingCopy.transaction(() => {
      workingCopy.pragma('defer_foreign_keys = ON');
      for (const page of pages) inserts.get(page.table.name)!.run(page.rows);
    });
    if (capture === undefined) copy();
    else capture.withoutCapture(() => copy());
    return counts;
  }

  /**
   * Writes a batch (whole working-copy transactions) and the results of the commands it carried
   * out in ONE PostgreSQL transaction on the lease connection: per table one delete and one
   * upsert statement (`json_populate_recordset`), then the command results. The batch's audit
   * entries must continue the stored sequence exactly (first = stored last + 1, no gap, no
   * rewrite): anything else means another writer, and the commit is refused (CAIRN_STATE_CONFLICT)
   * with nothing written. Listeners are told at commit: `<schema>_audit` with the new tree size,
   * `<schema>_command_done` with each answered command's id. A writer whose lease is lost, or lost
   * during the commit, refuses with CAIRN_STATE_UNAVAILABLE and has written nothing; when the
   * connection dies while COMMIT is in flight the outcome is unknown, which the next writer
   * settles by loading what is stored.
   */
  async commit(batch: ChangeBatch, commandResults: readonly CommandResult[] = []): Promise<CommitOutcome> {
    this.#assertHeld();
    if (batch.tables.length === 0 && commandResults.length === 0) return { treeSize: null, rows: 0 };
    const audit = batch.tables.find((changes) => changes.table === auditTable);
    let firstSeq: number | undefined;
    let lastSeq: number | undefined;
    if (audit !== undefined) {
      if (audit.deletes.length > 0) throw this.#conflict(`the batch deletes ${audit.deletes.length} audit entries; audit entries are never deleted`);
      const seqs = audit.upsertKeys.map((key) => (JSON.parse(key) as { seq: number }).seq).sort((left, right) => left - right);
      firstSeq = seqs[0]!;
      lastSeq = seqs.at(-1)!;
      if (lastSeq - firstSeq !== seqs.length - 1) throw this.#conflict(`the batch's audit entries ${firstSeq}..${lastSeq} have gaps (${seqs.length} entries)`);
    }
    const client = this.#client;
    let rows = 0;
    try {
      await client.query('BEGIN');
      if (firstSeq !== undefined) {
        const stored = await client.query<{ last: string }>(`SELECT coalesce(max(seq), -1) AS last FROM ${this.#schema}.${auditTable}`);
        const storedLast = Number(stored.rows[0]!.last);
        if (firstSeq !== storedLast + 1) {
          await client.query('ROLLBACK');
          throw this.#conflict(
            `the batch's audit entries start at seq ${firstSeq}, but the store's last is ${storedLast} (the next must be ${storedLast + 1})`,
          );
        }
      }
      for (const changes of batch.tables) {
        const table = this.#tables.get(changes.table);
        if (table === undefined) throw new Error(`The batch changes table ${changes.table}, which the PostgreSQL schema "${this.#settings.schema}" lacks.`);
        if (changes.deletes.length > 0) rows += (await client.query(table.deleteSql, [`[${changes.deletes.join(',')}]`])).rowCount ?? 0;
      }
      for (const changes of batch.tables) {
        if (changes.upserts.length > 0)
          rows += (await client.query(this.#tables.get(changes.table)!.upsertSql, [`[${changes.upserts.join(',')}]`])).rowCount ?? 0;
      }
      if (commandResults.length > 0) {
        const channels = commandChannels(this.#settings.schema);
        const answered = commandResults.map((answer) =>
          answer.ok
            ? { id: answer.id, state: 'done', result: answer.result, error: null }
            : { id: answer.id, state: 'failed', result: null, error: commandErrorJson(answer.error) },
        );
        await client.query(
          `WITH answered AS (
             UPDATE ${this.#schema}.engine_commands AS command
             SET state = answer.state, result = answer.result, error = answer.error, done_at = now()
             FROM json_to_recordset($1::json) AS answer (id bigint, state text, result jsonb, error jsonb)
             WHERE command.id = answer.id RETURNING command.id)
           SELECT pg_notify($2, id::text) FROM answered`,
          [JSON.stringify(answered), channels.done],
        );
      }
      if (lastSeq !== undefined) await client.query('SELECT pg_notify($1, $2)', [commandChannels(this.#settings.schema).audit, String(lastSeq + 1)]);
      await client.query('COMMIT');
    } catch (error) {
      if (error instanceof CairnError) throw error;
      if (this.isLost || (error as { code?: unknown }).code === undefined || !client.connection?.stream?.writable) {
        throw new CairnError(
          'CAIRN_STATE_UNAVAILABLE',
          `The commit of instance ${this.instanceId} did not reach ${describePostgresTarget(client)}: ${(error as Error).message}. The lease is lost with the connection; nothing of this batch is known to be stored, and the next writer loads what is.`,
          { path: 'engine.state', cause: error },
        );
      }
      await client.query('ROLLBACK').catch(() => {});
      throw new CairnError(
        'CAIRN_INTERNAL',
        `PostgreSQL refused a commit of the engine's state: ${(error as Error).message}. Nothing of the batch was written.`,
        {
          cause: error,
        },
      );
    }
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
      if (!(engineCommandKinds as readonly string[]).includes(row.kind)) {
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
      taken.push({ id: Number(row.id), kind: row.kind as EngineCommandKind, payload: row.payload, actor: row.actor });
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

  #conflict(what: string): CairnError {
    return new CairnError(
      'CAIRN_STATE_CONFLICT',
      `Commit refused: ${what}. Another writer has changed schema "${this.#settings.schema}" or this engine's working copy is not what is stored; nothing was written. Stop every other engine on this database and restart this one to reload the state.`,
      { path: 'engine.state', details: { schema: this.#settings.schema } },
    );
  }
}

/** Rows per page when loading: large enough to be few round trips, small enough to stay bounded. */
const loadPageSize = 5_000;

async function storeTables(client: pg.Client, schema: string): Promise<Map<string, StoreTable>> {
  const { rows } = await client.query<{ table_name: string; column_name: string; data_type: string; key_position: number | null }>(
    `SELECT c.table_name, c.column_name, c.data_type, k.ordinal_position AS key_position
     FROM information_schema.columns AS c
     LEFT JOIN information_schema.table_constraints AS t
       ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.constraint_type = 'PRIMARY KEY'
     LEFT JOIN information_schema.key_column_usage AS k
       ON k.constraint_schema = t.constraint_schema AND k.constraint_name = t.constraint_name AND k.column_name = c.column_name
     WHERE c.table_schema = $1
     ORDER BY c.table_name, c.ordinal_position`,
    [schema],
  );
  const quoted = quotedSchema(schema);
  const tables = new Map<string, StoreTable>();
  for (const row of rows) {
    if (postgresOnlyTables.includes(row.table_name)) continue;
    let table = tables.get(row.table_name);
    if (table === undefined) {
      table = { name: row.table_name, columns: [], primaryKey: [], types: {}, upsertSql: '', deleteSql: '' };
      tables.set(row.table_name, table);
    }
    (table.columns as string[]).push(row.column_name);
    (table.types as Record<string, string>)[row.column_name] = row.data_type;
    if (row.key_position !== null) (table.primaryKey as string[])[row.key_position - 1] = row.column_name;
  }
  for (const table of tables.values()) {
    const columns = table.columns.map((column) => `"${column}"`).join(', ');
    const key = table.primaryKey.map((column) => `"${column}"`).join(', ');
    const rest = table.columns.filter((column) => !table.primaryKey.includes(column));
    const target = `${quoted}."${table.name}"`;
    table.upsertSql =
      `INSERT INTO ${target} (${columns}) SELECT ${columns} FROM json_populate_recordset(NULL::${target}, $1::json) ` +
      `ON CONFLICT (${key}) ${rest.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${rest.map((column) => `"${column}" = EXCLUDED."${column}"`).join(', ')}`}`;
    table.deleteSql =
      `DELETE FROM ${target} AS stored USING json_populate_recordset(NULL::${target}, $1::json) AS gone ` +
      `WHERE ${table.primaryKey.map((column) => `stored."${column}" = gone."${column}"`).join(' AND ')}`;
  }
  return tables;
}

/** An INSERT that SQLite feeds from a JSON array of row objects (BLOBs as `\x<hex>`), so no row is parsed in JavaScript. */
function insertFromJson(table: CapturedTable): string {
  const values = table.columns.map((column) => {
    const extract = `json_extract(value, '$."${column}"')`;
    return table.blobColumns.includes(column) ? `unhex(substr(${extract}, 3))` : extract;
  });
  return `INSERT INTO main."${table.name}" (${table.columns.map((column) => `"${column}"`).join(', ')}) SELECT ${values.join(', ')} FROM json_each(?)`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}
