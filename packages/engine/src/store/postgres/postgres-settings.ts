import { readFileSync } from 'node:fs';
import pg from 'pg';
import { z } from 'zod';
import { CairnError, parseSettings } from '@cairn/protocol';

/**
 * The advisory lock key the writer lease takes in schema `cairn` when the settings name none:
 * "cair" as a 32-bit number, so that it is recognisable in `pg_locks`. Another schema's default
 * key is derived from its name (`defaultLockKeyOf`), so that two deployments in one database,
 * each in its own schema, do not wait on each other's lease.
 */
export const defaultPostgresLockKey = 0x63616972;

/** The default lease key of a schema: the constant for `cairn`, else a 31-bit FNV-1a hash of the name. */
export function defaultLockKeyOf(schema: string): number {
  if (schema === 'cairn') return defaultPostgresLockKey;
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(`cairn.${schema}`, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash & 0x7fffffff;
}

/**
 * Where the engine's state lives in PostgreSQL mode and how its connections behave. Either a
 * `connectionString` or the separate fields (a field given beside a connection string wins, as in
 * `pg`); anything not given falls back to libpq's environment variables (`PGHOST`, ...).
 */
export const postgresStateSettingsSchema = z
  .object({
    kind: z.literal('postgres'),
    connectionString: z.string().min(1).optional(),
    /** A host name, an IP address, or a unix socket folder (an absolute path). */
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65_535).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    database: z.string().min(1).optional(),
    /** `true`: TLS checked against the system's CAs; an object: `ca` is a PEM file to trust instead. */
    ssl: z.union([z.boolean(), z.object({ ca: z.string().min(1).optional(), rejectUnauthorized: z.boolean().optional() }).strict()]).optional(),
    /** The PostgreSQL schema that holds Cairn's tables (created when missing). */
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier (letters, digits, underscores; at most 63)')
      .default('cairn'),
    /** The session advisory lock key of the writer lease (default: from the schema); the replicas of one deployment must share it. */
    lockKey: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional(),
    /** Idle time before the first TCP keepalive probe: a dead peer is noticed in about this plus the kernel's probes. */
    keepAliveMs: z.number().int().min(1_000).max(3_600_000).default(10_000),
    /** A session idle inside a transaction longer than this is ended by the server (its locks freed). */
    idleInTransactionTimeoutMs: z.number().int().min(1_000).max(86_400_000).default(60_000),
    /** The longest one statement may run. Loading a large state is one statement per table. */
    statementTimeoutMs: z.number().int().min(1_000).max(86_400_000).default(300_000),
    /** How long a connection attempt may take before it is refused. */
    connectTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  })
  .strict();

export type PostgresStateSettings = z.input<typeof postgresStateSettingsSchema>;
/** The settings as the store uses them: defaults applied, the lease key resolved. */
export type ResolvedPostgresStateSettings = z.output<typeof postgresStateSettingsSchema> & { readonly lockKey: number };

/** What a connection is for, in `application_name` (`cairn-writer`, `cairn-listener`, ...), so `pg_stat_activity` tells them apart. */
export type PostgresConnectionPurpose = 'writer' | 'reader' | 'listener' | 'commands' | 'migrate';

/** Validates the settings, naming each bad option under `scope` (`engine.state.port`). */
export function parsePostgresStateSettings(settings: unknown, scope = 'engine.state'): ResolvedPostgresStateSettings {
  const parsed = parseSettings(postgresStateSettingsSchema, settings, scope);
  return { ...parsed, lockKey: parsed.lockKey ?? defaultLockKeyOf(parsed.schema) };
}

/**
 * Opens one dedicated connection (a `pg.Client`, never a pool: the writer lease is a session
 * advisory lock and LISTEN is per session, both lost if a pool hands the session to someone else).
 * TCP keepalives make a silently dead peer (a failed-over database host) end the session instead of
 * leaving a writer that believes it still holds the lease; the idle-in-transaction and statement
 * timeouts free locks a stuck client would otherwise hold. A refused connection is a
 * CAIRN_STATE_UNAVAILABLE naming host, port, database and user, never the password.
 */
export async function connectPostgres(settings: ResolvedPostgresStateSettings, purpose: PostgresConnectionPurpose): Promise<pg.Client> {
  const client = new pg.Client(postgresClientConfig(settings, purpose));
  // A connection that dies emits 'error'; without a listener Node would end the process. Its
  // owner watches 'end' (and its queries fail), which is how a lost session is noticed.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw connectionRefused(client, error);
  }
  return client;
}

/**
 * The `pg` configuration of a connection (or of a pool's connections, for readers): keepalives,
 * timeouts, `application_name`, and the session options given as `-c name=value` (a reader's
 * `search_path`).
 */
export function postgresClientConfig(
  settings: ResolvedPostgresStateSettings,
  purpose: PostgresConnectionPurpose,
  sessionOptions: Readonly<Record<string, string>> = {},
): pg.ClientConfig {
  const keepAliveSeconds = Math.max(1, Math.round(settings.keepAliveMs / 1000));
  const extra = Object.entries(sessionOptions).map(([name, value]) => ` -c ${name}=${value}`);
  return {
    ...(settings.connectionString === undefined ? {} : { connectionString: settings.connectionString }),
    ...(settings.host === undefined ? {} : { host: settings.host }),
    ...(settings.port === undefined ? {} : { port: settings.port }),
    ...(settings.user === undefined ? {} : { user: settings.user }),
    ...(settings.password === undefined ? {} : { password: settings.password }),
    ...(settings.database === undefined ? {} : { database: settings.database }),
    ...(settings.ssl === undefined ? {} : { ssl: sslOptions(settings.ssl) }),
    application_name: `cairn-${purpose}`,
    keepAlive: true,
    keepAliveInitialDelayMillis: settings.keepAliveMs,
    idle_in_transaction_session_timeout: settings.idleInTransactionTimeoutMs,
    statement_timeout: settings.statementTimeoutMs,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    // The server probes too: when the writer's machine vanishes, its backend ends and the lease
    // (the session's advisory lock) is freed for another replica within about a keepalive period.
    options: `-c tcp_keepalives_idle=${keepAliveSeconds} -c tcp_keepalives_interval=${Math.max(1, Math.ceil(keepAliveSeconds / 3))} -c tcp_keepalives_count=3${extra.join('')}`,
  };
}

function sslOptions(ssl: NonNullable<ResolvedPostgresStateSettings['ssl']>): boolean | { ca?: string; rejectUnauthorized?: boolean } {
  if (typeof ssl === 'boolean') return ssl;
  let ca: string | undefined;
  if (ssl.ca !== undefined) {
    try {
      ca = readFileSync(ssl.ca, 'utf8');
    } catch (error) {
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `Cannot read the CA file ${ssl.ca} named by engine.state.ssl.ca: ${(error as Error).message}. Check the path.`,
        {
          path: 'engine.state.ssl.ca',
          cause: error,
        },
      );
    }
  }
  return { ...(ca === undefined ? {} : { ca }), ...(ssl.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: ssl.rejectUnauthorized }) };
}

/** Where a connection went, as words: host and port, or the socket folder; database; user. */
export function describePostgresTarget(client: pg.Client): string {
  const where = client.host.startsWith('/') ? `the unix socket in ${client.host} (port ${client.port})` : `${client.host}:${client.port}`;
  return `PostgreSQL at ${where}, database "${client.database ?? ''}", user "${client.user ?? ''}"`;
}

function connectionRefused(client: pg.Client, error: unknown): CairnError {
  const code = (error as { code?: unknown }).code;
  const hint =
    code === '28P01' || code === '28000'
      ? 'the server refused the user or password: check engine.state.user and engine.state.password (or the connection string)'
      : code === '3D000'
        ? 'the database does not exist: create it (createdb) or fix engine.state.database'
        : code === 'ECONNREFUSED' || code === 'ENOENT'
          ? 'nothing listens there: check that PostgreSQL runs and engine.state.host and engine.state.port'
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? 'the host name does not resolve: check engine.state.host'
            : 'check that the server runs, accepts connections from this host (pg_hba.conf) and that TLS settings match';
  // pg's own messages never carry the password; the connection string might, so it is not quoted.
  return new CairnError('CAIRN_STATE_UNAVAILABLE', `Cannot connect to ${describePostgresTarget(client)}: ${(error as Error).message}; ${hint}.`, {
    path: 'engine.state',
    details: { host: client.host, port: client.port, database: client.database ?? '', ...(typeof code === 'string' ? { reason: code } : {}) },
    cause: error,
  });
}
