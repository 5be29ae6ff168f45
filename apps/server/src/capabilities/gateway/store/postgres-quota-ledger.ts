import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '@cairn/core';
import type { ServerPostgres } from '../../../store/postgres/server-postgres.ts';
import { quotaFull, quotaWindowMs, type QuotaClaim, type QuotaLedger, type QuotaTaken } from '../quota-ledger.ts';

/**
 * The quotas counted in the state database (`server_quota_calls`, server step 4), so that every
 * replica of a server on PostgreSQL takes room from the same count: after a failover the new
 * leader's gateway sees the calls the old one still has in flight.
 *
 * A call is one row per quota key, taken in one transaction that holds a transaction-level
 * advisory lock per key (in key order, so two takers never wait on each other crosswise): the
 * count and the insert of one taker never interleave with another's, on any replica. All times are
 * the database's clock, so replicas' clocks need not agree. A call stays in flight until it is
 * released or its lease lapses: the holder renews the leases of its calls every third of
 * `leaseMs`, so a replica that dies (or loses the database) holds its calls' room for at most
 * `leaseMs` after its last renewal.
 */
export class PostgresQuotaLedger implements QuotaLedger {
  readonly pollIntervalMs = 50;
  readonly #database: ServerPostgres;
  readonly #table: string;
  readonly #leaseMs: number;
  /** This process in the rows it takes (host, pid and a random part): whose calls an operator sees. */
  readonly #holder: string;
  readonly #logger: Logger | undefined;
  /** The calls this process holds (their keys), whose leases it renews. */
  readonly #held = new Map<string, readonly string[]>();
  readonly #timer: NodeJS.Timeout;
  /** Whether this process took calls since it last deleted old rows (a replica that serves none leaves that to one that does). */
  #took = false;
  #tick: Promise<void> | undefined;

  constructor(database: ServerPostgres, options: { readonly leaseMs: number; readonly logger?: Logger }) {
    this.#database = database;
    this.#table = `${database.schema}.server_quota_calls`;
    this.#leaseMs = options.leaseMs;
    this.#holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#logger = options.logger;
    this.#timer = setInterval(() => void this.renew(), Math.max(100, Math.floor(options.leaseMs / 3)));
    this.#timer.unref();
  }

  async take(claims: readonly QuotaClaim[], reserveTokens = 0): Promise<QuotaTaken> {
    const keys = claims.map((claim) => claim.key);
    const callId = randomUUID();
    const full = await this.#database.transaction(async (client) => {
      for (const key of [...keys].sort())
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', ['cairn.quota', `${this.#database.schema}.${key}`]);
      // A call in flight holds its reservation in `tokens` until its release writes what it used.
      const { rows } = await client.query<{ quota_key: string; in_flight: string; started: string; tokens: string; reserved: string }>(
        `SELECT quota_key,
                count(*) FILTER (WHERE ended_at IS NULL AND lease_until > statement_timestamp()) AS in_flight,
                count(*) FILTER (WHERE started_at > statement_timestamp() - $2 * interval '1 millisecond') AS started,
                coalesce(sum(tokens) FILTER (WHERE ended_at > statement_timestamp() - $2 * interval '1 millisecond'), 0) AS tokens,
                coalesce(sum(tokens) FILTER (WHERE ended_at IS NULL AND lease_until > statement_timestamp()), 0) AS reserved
           FROM ${this.#table} WHERE quota_key = ANY($1) GROUP BY quota_key`,
        [keys, quotaWindowMs],
      );
      for (const claim of claims) {
        const row = rows.find((candidate) => candidate.quota_key === claim.key);
        const reason = quotaFull(
          claim.quota,
          {
            inFlight: Number(row?.in_flight ?? 0),
            startedInMinute: Number(row?.started ?? 0),
            tokensInMinute: Number(row?.tokens ?? 0),
            reservedTokens: Number(row?.reserved ?? 0),
          },
          reserveTokens,
        );
        if (reason !== undefined) return { key: claim.key, reason };
      }
      await client.query(
        `INSERT INTO ${this.#table} (quota_key, call_id, holder, started_at, lease_until, tokens)
         SELECT key, $2, $3, statement_timestamp(), statement_timestamp() + $4 * interval '1 millisecond', $5 FROM unnest($1::text[]) AS key`,
        [keys, callId, this.#holder, this.#leaseMs, reserveTokens],
      );
      return undefined;
    });
    if (full !== undefined) return { full };
    this.#held.set(callId, keys);
    this.#took = true;
    return { release: (tokens) => this.#release(callId, keys, tokens) };
  }

  /**
   * Renews the leases of the calls this process holds, and deletes rows no count needs any more
   * (ended, or lapsed, and started over a minute ago). Runs every third of the lease; one at a time.
   */
  renew(): Promise<void> {
    this.#tick ??= (async () => {
      const calls = [...this.#held.keys()];
      if (calls.length > 0)
        await this.#database.query(
          `UPDATE ${this.#table} SET lease_until = statement_timestamp() + $3 * interval '1 millisecond'
            WHERE holder = $1 AND call_id = ANY($2) AND ended_at IS NULL`,
          [this.#holder, calls, this.#leaseMs],
        );
      if (this.#took) {
        this.#took = false;
        await this.#database.query(
          `DELETE FROM ${this.#table}
            WHERE started_at <= statement_timestamp() - $1 * interval '1 millisecond'
              AND (ended_at <= statement_timestamp() - $1 * interval '1 millisecond' OR (ended_at IS NULL AND lease_until <= statement_timestamp()))`,
          [quotaWindowMs],
        );
      }
    })()
      .catch((error: unknown) => {
        // The next tick tries again; until then the leases last (a lapse only frees room early).
        this.#logger?.warn({ error: String(error), holder: this.#holder }, 'the model quotas could not be renewed in the database');
      })
      .finally(() => {
        this.#tick = undefined;
      });
    return this.#tick;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#tick;
    const calls = [...this.#held.keys()];
    this.#held.clear();
    if (calls.length === 0) return;
    await this.#database
      .query(`UPDATE ${this.#table} SET ended_at = statement_timestamp(), tokens = 0 WHERE holder = $1 AND call_id = ANY($2) AND ended_at IS NULL`, [
        this.#holder,
        calls,
      ])
      .catch((error: unknown) => {
        this.#logger?.warn({ error: String(error), holder: this.#holder }, 'the model quotas of calls cut short could not be released; their leases lapse');
      });
  }

  async #release(callId: string, keys: readonly string[], tokens: number): Promise<void> {
    // No longer renewed from now on: should the update fail, the lease lapses instead.
    if (!this.#held.delete(callId)) return;
    try {
      await this.#database.query(
        `UPDATE ${this.#table} SET ended_at = statement_timestamp(), tokens = $3 WHERE quota_key = ANY($1) AND call_id = $2 AND ended_at IS NULL`,
        [keys, callId, tokens],
      );
    } catch (error) {
      this.#logger?.warn({ error: String(error), callId }, "a model call's end could not be recorded in the quotas; its room is freed when its lease lapses");
    }
  }
}
