import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { PostgresStateSettings } from '@cairn/engine';
import pg from 'pg';
import { freeLoopbackPort } from './free-loopback-port.ts';

/** A PostgreSQL cluster of the benchmark's own, on loopback; `stop` ends it and removes its folder. */
export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  /**
   * Creates a fresh database; its `drop` ends its connections and removes it. `settings` are the
   * engine's, `connectionString` the same database for a peer that takes a URL.
   */
  createDatabase(): Promise<{ readonly settings: PostgresStateSettings; readonly connectionString: string; drop(): Promise<void> }>;
  /**
   * The cluster's WAL fsyncs so far (`SELECT wal_sync FROM pg_stat_wal`: the WAL flushes that
   * called fdatasync, by backends, the WAL writer and the checkpointer alike), read once no other
   * client is connected: a backend hands its counts to the shared statistics when it exits (or up
   * to a second after a transaction), so the count then holds everything the clients did.
   */
  walSyncs(): Promise<number>;
  stop(): Promise<void>;
}

interface Connection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

const script = fileURLToPath(new URL('../scripts/postgres.sh', import.meta.url));

/**
 * Starts a throwaway PostgreSQL cluster (Debian's, through `scripts/postgres.sh`, which installs it
 * when missing) in a folder and on a free loopback port of its own, with PostgreSQL's production
 * durability defaults: fsync, synchronous_commit and full_page_writes on
 * (`CAIRN_POSTGRES_DURABLE=1`). The comparison with SQLite (WAL, synchronous=NORMAL) is of durable
 * commits against durable commits; the tests' cluster turns them off and would flatter PostgreSQL.
 */
export async function startPostgresServer(): Promise<PostgresServer> {
  // The cluster's owner (`postgres`) must reach the folder: directly under the temp folder (711).
  const directory = join(tmpdir(), `cairn-bench-postgres-${randomBytes(4).toString('hex')}`);
  const port = await freeLoopbackPort();
  const env = { ...process.env, CAIRN_POSTGRES_DIR: directory, CAIRN_POSTGRES_PORT: String(port), CAIRN_POSTGRES_DURABLE: '1' };
  const stopCluster = () => {
    execFileSync('bash', [script, 'stop'], { env, stdio: 'ignore' });
    rmSync(`${directory}.lock`, { force: true });
  };
  let connectionFile: string;
  try {
    connectionFile = execFileSync('bash', [script, 'start'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    stopCluster();
    throw new Error(`the benchmark's PostgreSQL did not start: ${String((error as { stderr?: string }).stderr ?? error).slice(-800)}`);
  }
  const connection = JSON.parse(readFileSync(connectionFile, 'utf8')) as Connection;
  // A benchmark that exits without reaching its `stop` leaves no cluster behind.
  process.once('exit', stopCluster);
  const admin = async <T>(body: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ ...connection });
    await client.connect();
    try {
      return await body(client);
    } finally {
      await client.end();
    }
  };
  return {
    host: connection.host,
    port: connection.port,
    async createDatabase() {
      const name = `cairn_bench_${randomBytes(6).toString('hex')}`;
      await admin((client) => client.query(`CREATE DATABASE ${name}`));
      return {
        settings: { kind: 'postgres', host: connection.host, port: connection.port, user: connection.user, password: connection.password, database: name },
        connectionString: `postgresql://${encodeURIComponent(connection.user)}:${encodeURIComponent(connection.password)}@${connection.host}:${connection.port}/${name}`,
        // A client's pool may still be closing its connections when its owner says it is done
        // (graphile-worker ends its own pool without waiting): those get a moment to go, as a
        // connection ended by the DROP errors in a pool that may no longer listen for errors.
        drop: () =>
          admin(async (client) => {
            const deadline = Date.now() + 5_000;
            const connected = `SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = $1`;
            while ((await client.query<{ count: number }>(connected, [name])).rows[0]!.count > 0 && Date.now() < deadline) await sleep(5);
            await client.query(`DROP DATABASE ${name} WITH (FORCE)`);
          }),
      };
    },
    walSyncs: () =>
      admin(async (client) => {
        const deadline = Date.now() + 30_000;
        const others = `SELECT count(*)::int AS count FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`;
        while ((await client.query<{ count: number }>(others)).rows[0]!.count > 0) {
          if (Date.now() > deadline) throw new Error('other clients stayed connected to the benchmark PostgreSQL for 30 s');
          await sleep(5);
        }
        return Number((await client.query<{ wal_sync: string }>('SELECT wal_sync FROM pg_stat_wal')).rows[0]!.wal_sync);
      }),
    async stop() {
      process.off('exit', stopCluster);
      stopCluster();
    },
  };
}
