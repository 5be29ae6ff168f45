import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import { CairnError } from '@cairn/protocol';
import type { JsonValue } from '@cairn/core';
import type { EngineDatabase } from '../sqlite/engine-database.ts';
import { engineTables, isAppendOnlyTable, type CapturedTable, type ChangeBatch, type ChangeCapture } from '../change-capture.ts';
import { isEngineCommandKind } from '../engine-commands.ts';
import { commandChannels, commandErrorJson, type CommandResult, type PendingCommand } from './postgres-commands.ts';
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
    let connected = false;
    for (;;) {
      options.signal?.throwIfAborted();
      try {
        client ??= await connectPostgres(this.settings, 'writer');
        connected = true;
        const { rows } = await client.query<{ held: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS held', [this.settings.lockKey]);
        if (rows[0]!.held) break;
      } catch (error) {
        // The first connection's refusal is a configuration problem: say so at once. Later ones
        // (the database restarting while this replica waits) are waited out.
        if (!connected) throw error;
        await client?.end().catch(() => {});
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
  /** The upsert of a JSON array of row images, given as an SQL literal. */
  upsertSql: (rows: string) => string;
  /** The delete of a JSON array of primary keys, given as an SQL literal. */
  deleteSql: (keys: string) => string;
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
    const counts: Record<string, number> = {};
    const pages = this.#pages(tables, counts, options.pageSize ?? loadPageSize);
    const inserts = new Map(tables.map((table) => [table.name, workingCopy.prepare<[string]>(insertFromJson(table))]));
    // One working-copy transaction across the pages, foreign keys checked at its end; while
    // SQLite inserts a page, PostgreSQL is already reading the next.
    const copy = async () => {
      workingCopy.exec('BEGIN');
      try {
        workingCopy.pragma('defer_foreign_keys = ON');
        let next = pages.next();
        for (;;) {
          const page = await next;
          if (page.done) break;
          next = pages.next();
          inserts.get(page.value.table.name)!.run(page.value.rows);
        }
        workingCopy.exec('COMMIT');
      } catch (error) {
        if (workingCopy.inTransaction) workingCopy.exec('ROLLBACK');
        throw error;
      }
    };
    if (capture === undefined) await copy();
    else await capture.withoutCapture(copy);
    return counts;
  }

  /** Every table's rows, a page at a time, each page one JSON array text built by PostgreSQL. */
  async *#pages(tables: readonly CapturedTable[], counts: Record<string, number>, pageSize: number): AsyncGenerator<{ table: CapturedTable; rows: string }> {
    for (const table of tables) {
      const stored = this.#tables.get(table.name)!;
      const order = (table.name === 'items' ? ['run_id', 'position', 'item_id'] : stored.primaryKey).map((column) => `"${column}"`).join(', ');
      const parameters = (table.name === 'items' ? ['run_id', 'position', 'item_id'] : stored.primaryKey).map(
        (column, index) => `$${index + 2}::${stored.types[column.replaceAll('"', '')]}`,
      );
      counts[table.name] = 0;
      let after: string[] | undefined;
      for (;;) {
        const { rows } = await this.#client.query<{ rows: string | null; count: number; last: string[] | null }>(
          `WITH page AS (
             SELECT * FROM ${this.#schema}."${table.name}" ${after === undefined ? '' : `WHERE (${order}) > (${parameters.join(', ')})`}
             ORDER BY ${order} LIMIT $1)
           SELECT json_agg(page ORDER BY ${order})::text AS rows, count(*)::int AS count,
                  (SELECT array[${order
                    .split(', ')
                    .map((column) => `${column}::text`)
                    .join(', ')}] FROM page ORDER BY ${order
                    .split(', ')
                    .map((column) => `${column} DESC`)
                    .join(', ')} LIMIT 1) AS last
           FROM page`,
          [pageSize, ...(after ?? [])],
        );
        const page = rows[0]!;
        if (page.count === 0 || page.rows === null) break;
        counts[table.name]! += page.count;
        yield { table, rows: page.rows };
        if (page.count < pageSize) break;
        after = page.last!;
      }
    }
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
    const audit = batch.tables.find((changes) => changes.table === auditTable);
    let firstSeq: number | undefined;
    let lastSeq: number | undefined;
    if (audit !== undefined) {
      if (audit.deletes.length > 0) throw this.#conflict(`the batch deletes ${audit.deletes.length} audit entries; audit entries are never deleted`);
      if (audit.upsertKeys.length > 0) {
        const seqs = audit.upsertKeys.map((key) => (JSON.parse(key) as { seq: number }).seq).sort((left, right) => left - right);
        firstSeq = seqs[0]!;
        lastSeq = seqs.at(-1)!;
        if (lastSeq - firstSeq !== seqs.length - 1)
          throw this.#conflict(`the batch's audit entries ${firstSeq}..${lastSeq} have gaps (${seqs.length} entries)`);
      }
    }
    const statements: string[] = [];
    // Statements in one simple-query message run as one implicit transaction: an error in any
    // rolls all of them back, and NOTIFYs are delivered only if it commits.
    if (firstSeq !== undefined) statements.push(`SELECT ${this.#schema}.assert_audit_continues(${firstSeq})`);
    const modifications: number[] = [];
    for (const changes of batch.tables) {
      const table = this.#tables.get(changes.table);
      if (table === undefined) throw new Error(`The batch changes table ${changes.table}, which the PostgreSQL schema "${this.#settings.schema}" lacks.`);
      if (changes.deletes.length > 0) {
        modifications.push(statements.length);
        statements.push(table.deleteSql(dollarQuoted(`[${changes.deletes.join(',')}]`)));
      }
    }
    for (const changes of batch.tables) {
      if (changes.upserts.length === 0) continue;
      modifications.push(statements.length);
      statements.push(this.#tables.get(changes.table)!.upsertSql(dollarQuoted(`[${changes.upserts.join(',')}]`)));
    }
    const channels = commandChannels(this.#settings.schema);
    if (commandResults.length > 0) {
      const answered = commandResults.map((answer) =>
        answer.ok
          ? { id: answer.id, state: 'done', result: answer.result, error: null }
          : { id: answer.id, state: 'failed', result: null, error: commandErrorJson(answer.error) },
      );
      statements.push(
        `WITH answered AS (
           UPDATE ${this.#schema}.engine_commands AS command
           SET state = answer.state, result = answer.result, error = answer.error, done_at = now()
           FROM json_to_recordset(${dollarQuoted(JSON.stringify(answered))}::json) AS answer (id bigint, state text, result jsonb, error jsonb)
           WHERE command.id = answer.id RETURNING command.id)
         SELECT pg_notify('${channels.done}', id::text) FROM answered`,
      );
    }
    if (lastSeq !== undefined) statements.push(`SELECT pg_notify('${channels.audit}', '${lastSeq + 1}')`);
    const client = this.#client;
    let results: pg.QueryResult | pg.QueryResult[];
    try {
      results = await client.query(statements.join(';\n'));
    } catch (error) {
      if ((error as { code?: unknown }).code === auditGapState) throw this.#conflict(`${(error as Error).message}`);
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

  #conflict(what: string): CairnError {
    return new CairnError(
      'CAIRN_STATE_CONFLICT',
      `Commit refused: ${what}. Another writer has changed schema "${this.#settings.schema}" or this engine's working copy is not what is stored; nothing was written. Stop every other engine on this database and restart this one to reload the state.`,
      { path: 'engine.state', details: { schema: this.#settings.schema } },
    );
  }
}

/** The SQLSTATE `assert_audit_continues` raises (postgres-schema.ts). */
const auditGapState = 'CR001';

/**
 * `text` as a dollar-quoted SQL literal: taken verbatim by PostgreSQL (no escapes), under a tag
 * the text does not contain, so no content can end it early.
 */
function dollarQuoted(json: string): string {
  const text = json.includes('\\u0000') ? withoutNul(json) : json;
  let tag = 'cairn';
  while (text.includes(`$${tag}$`)) tag = `cairn_${randomBytes(6).toString('hex')}`;
  return `$${tag}$${text}$${tag}$`;
}

/**
 * PostgreSQL's text cannot hold U+0000 (SQLite's can: a task's stderr tail may carry one), and a
 * row with one would refuse the whole commit. In the JSON the working copy made, each `\u0000`
 * escape (not an escaped backslash before `u0000`) becomes U+FFFD, the replacement character.
 */
function withoutNul(json: string): string {
  return json.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');
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
      table = { name: row.table_name, columns: [], primaryKey: [], types: {}, upsertSql: () => '', deleteSql: () => '' };
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
    const updates = rest.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${rest.map((column) => `"${column}" = EXCLUDED."${column}"`).join(', ')}`;
    const matches = table.primaryKey.map((column) => `stored."${column}" = gone."${column}"`).join(' AND ');
    // An append-only table's rows are new (the audit log's batches continue the stored sequence,
    // checked first): a plain INSERT, which PostgreSQL runs faster than an upsert, and which
    // refuses a rewrite of a stored row outright.
    const conflict = isAppendOnlyTable(table.name) ? '' : ` ON CONFLICT (${key}) ${updates}`;
    table.upsertSql = (rows) => `INSERT INTO ${target} (${columns}) SELECT ${columns} FROM json_populate_recordset(NULL::${target}, ${rows}::json)${conflict}`;
    table.deleteSql = (keys) => `DELETE FROM ${target} AS stored USING json_populate_recordset(NULL::${target}, ${keys}::json) AS gone WHERE ${matches}`;
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
