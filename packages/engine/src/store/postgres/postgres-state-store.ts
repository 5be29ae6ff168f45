import type pg from 'pg';
import { connectPostgres, parsePostgresStateSettings, type PostgresStateSettings, type ResolvedPostgresStateSettings } from './postgres-settings.ts';
import { migratePostgresSchema, quotedSchema } from './postgres-schema.ts';
import { PostgresWriter } from './postgres-writer.ts';

export interface AcquireWriterOptions {
  /** Gives up waiting for the lease (the promise rejects with the signal's reason). */
  readonly signal?: AbortSignal;
  /** This replica's name in `engine_leader` (for doctor and operators). */
  readonly instanceId: string;
  /** How often to try the lock while another replica holds it (ms); default 250. */
  readonly retryIntervalMs?: number;
}

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
