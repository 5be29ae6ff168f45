import pg from 'pg';
import type { PostgresStateSettings } from '@cairn/engine/internals';
import { CairnError } from '@cairn/protocol';
import { serverMigrationLedger, serverPostgresMigrations } from './server-postgres-schema.ts';

/**
 * The server's connections to the engine's PostgreSQL database (tokens, webhooks): a small pool
 * configured by the same `engine.state` settings as the engine's own connections (keepalives,
 * timeouts, TLS), with `application_name` `cairn-server`. Every query that fails for want of the
 * database is a CAIRN_STATE_UNAVAILABLE naming where it went (never the password).
 */
export class ServerPostgres {
  /** The schema's quoted name, to qualify the tables with. */
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #target: string;

  private constructor(pool: pg.Pool, schema: string, target: string) {
    this.#pool = pool;
    this.schema = schema;
    this.#target = target;
  }

  /** Connects, and brings the server's tables up to date (once per process is enough). */
  static async open(state: PostgresStateSettings): Promise<ServerPostgres> {
    const { migratePostgresSchema, parsePostgresStateSettings, postgresClientConfig, quotedSchema } = await import('@cairn/engine/internals');
    const settings = parsePostgresStateSettings(state);
    const pool = new pg.Pool({ ...postgresClientConfig(settings, 'reader'), application_name: 'cairn-server', max: 4 });
    // An idle connection that dies is replaced by the pool; its error must not end the process.
    pool.on('error', () => {});
    const target = `PostgreSQL at ${settings.host ?? process.env['PGHOST'] ?? 'localhost'}:${settings.port ?? process.env['PGPORT'] ?? 5432}, database "${settings.database ?? process.env['PGDATABASE'] ?? ''}"`;
    const opened = new ServerPostgres(pool, quotedSchema(settings.schema), target);
    try {
      await opened.transaction(
        (client) => migratePostgresSchema(client, settings.schema, serverPostgresMigrations, serverMigrationLedger).then(() => undefined),
        {
          own: true,
        },
      );
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
    return opened;
  }

  /** Runs one statement on any pooled connection; returns its rows and how many it changed. */
  async query<Row extends pg.QueryResultRow>(sql: string, parameters: readonly unknown[] = []): Promise<{ rows: Row[]; rowCount: number }> {
    try {
      const result = await this.#pool.query<Row>(sql, parameters as unknown[]);
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  /**
   * Runs `work` in one transaction on one connection (BEGIN, COMMIT; ROLLBACK when it throws). With
   * `own`, `work` makes its own transaction (the schema migration) and is only given the connection.
   */
  async transaction<Result>(work: (client: pg.PoolClient) => Promise<Result>, options: { readonly own?: boolean } = {}): Promise<Result> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw this.#unavailable(error);
    }
    // A checked-out connection has no pool listener: the database ending it between two of
    // `work`'s statements (a failover, an administrator) would otherwise be an uncaught 'error'
    // that ends the process. The error is kept (it says why, where pg's next refusal would not),
    // and the connection is not given back for reuse.
    let broken = false;
    let lost: Error | undefined;
    const lose = (error: Error) => {
      broken = true;
      lost ??= error;
    };
    client.on('error', lose);
    try {
      if (options.own) return await work(client);
      await client.query('BEGIN');
      try {
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw error;
      }
    } catch (error) {
      throw this.#unavailable(lost ?? error);
    } finally {
      client.removeListener('error', lose);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  /** A failure of the database or the way to it as CAIRN_STATE_UNAVAILABLE; anything else (a CairnError, a bug) as it is. */
  #unavailable(error: unknown): unknown {
    if (!fromTheDatabase(error)) return error;
    return new CairnError(
      'CAIRN_STATE_UNAVAILABLE',
      `The server's tables (tokens, webhooks) in ${this.#target} could not be read or written: ${(error as Error).message}. Check that the database answers (\`cairn doctor\`); the request may be sent again.`,
      { path: 'config.engine.state', cause: error },
    );
  }
}

/**
 * Whether an error came from PostgreSQL or the connection to it: an error the server sent (a
 * `pg` DatabaseError), a socket's (`ECONNREFUSED`, `ETIMEDOUT`...), or `pg`'s own for a lost or
 * timed-out connection.
 */
function fromTheDatabase(error: unknown): boolean {
  if (error instanceof CairnError) return false;
  if (error instanceof pg.DatabaseError) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    String((error as Error).message),
  );
}
