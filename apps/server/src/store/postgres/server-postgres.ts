import pg from 'pg';
import type { PostgresStateSettings } from '@cairn/engine';
import { serverMigrationLedger, serverPostgresMigrations } from './server-postgres-schema.ts';

/**
 * The server's connections to the engine's PostgreSQL database (tokens, webhooks, model quotas, trigger deliveries): a small pool
 * configured by the same `engine.state` settings as the engine's own connections (keepalives,
 * timeouts, TLS), with `application_name` `cairn-server`. Every query that fails for want of the
 * database is a CAIRN_STATE_UNAVAILABLE naming where it went (never the password).
 */
export class ServerPostgres {
  /** The schema's quoted name, to qualify the tables with. */
  readonly schema: string;
  readonly #pool: pg.Pool;
  /** A failure of the database or the way to it as CAIRN_STATE_UNAVAILABLE naming where; anything else (a CairnError, a bug) as it is. */
  readonly #unavailable: (error: unknown) => unknown;

  private constructor(pool: pg.Pool, schema: string, unavailable: (error: unknown) => unknown) {
    this.#pool = pool;
    this.schema = schema;
    this.#unavailable = unavailable;
  }

  /** Connects, and brings the server's tables up to date (once per process is enough). */
  static async open(state: PostgresStateSettings): Promise<ServerPostgres> {
    const { describePostgresTarget, migratePostgresSchema, parsePostgresStateSettings, postgresClientConfig, postgresUnavailable, quotedSchema } =
      await import('@cairn/engine/internals');
    const settings = parsePostgresStateSettings(state);
    const config = { ...postgresClientConfig(settings, 'reader'), application_name: 'cairn-server' };
    const pool = new pg.Pool({ ...config, max: 4 });
    // An idle connection that dies is replaced by the pool; its error must not end the process.
    pool.on('error', () => {});
    const target = describePostgresTarget(new pg.Client(config));
    const opened = new ServerPostgres(pool, quotedSchema(settings.schema), (error) =>
      postgresUnavailable(
        error,
        `The server's tables (tokens, webhooks, model quotas, trigger deliveries) in ${target} could not be read or written`,
        'config.engine.state',
      ),
    );
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
      client.release(broken || lost !== undefined);
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
