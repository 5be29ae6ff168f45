/** A connection `cairn doctor` reads through: the `pg` client's query, nothing more. */
export interface DoctorClient {
  query<Row>(text: string, values?: unknown[]): Promise<{ rows: Row[] }>;
}

/**
 * What `cairn doctor` reads of a PostgreSQL state database to say whether a server can use it:
 * every statement here, so that the rest of the server holds no SQL. `schema` is already quoted
 * (`quotedSchema`).
 */
export const postgresDoctorReads = {
  /** The server's version (`server_version`), read under a name of our own: SHOW names its column after the setting. */
  async serverVersion(client: DoctorClient): Promise<string | undefined> {
    const { rows } = await client.query<{ version: string | null }>(`SELECT current_setting('server_version', true) AS version`);
    return rows[0]?.version ?? undefined;
  },

  /** The last step a migration ledger records (0: none, or no ledger table yet). */
  async ledgerVersion(client: DoctorClient, schema: string, ledger: string): Promise<number> {
    const { rows: table } = await client.query<{ found: string | null }>('SELECT to_regclass($1) AS found', [`${schema}.${ledger}`]);
    if (table[0]!.found === null) return 0;
    const { rows } = await client.query<{ version: string | null }>(`SELECT max(version) AS version FROM ${schema}.${ledger}`);
    return Number(rows[0]!.version ?? 0);
  },

  /** Since when the engine's writer lease has been held, as the leader recorded it. */
  async leaderSince(client: DoctorClient, schema: string, lockKey: number | string): Promise<Date | undefined> {
    const { rows } = await client.query<{ since: Date | null }>(`SELECT since FROM ${schema}.engine_leader WHERE lock_key = $1`, [lockKey]);
    return rows[0]?.since ?? undefined;
  },

  /** The session settings failover depends on, each in its base unit (ms, s), as pg_settings gives them. */
  async sessionSettings(client: DoctorClient): Promise<Record<string, number>> {
    const { rows } = await client.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('idle_in_transaction_session_timeout', 'statement_timeout', 'tcp_keepalives_idle', 'tcp_keepalives_interval', 'tcp_keepalives_count')`,
    );
    return Object.fromEntries(rows.map((row) => [row.name, Number(row.setting)]));
  },

  /** A setting as SHOW would format it (`1min`), to quote it back to the operator. */
  async formattedSetting(client: DoctorClient, name: string): Promise<string> {
    return (await client.query<{ value: string }>(`SELECT current_setting($1) AS value`, [name])).rows[0]!.value;
  },
};
