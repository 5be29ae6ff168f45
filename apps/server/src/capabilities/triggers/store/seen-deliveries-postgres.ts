import type { ServerPostgres } from '../../../store/postgres/server-postgres.ts';
import { SeenDeliveries, seenDeliveryKeptIds, seenDeliveryKeptMs } from '../seen-deliveries.ts';

/**
 * The deliveries already handled, in the engine's PostgreSQL database (`server_trigger_deliveries`,
 * server step 7), shared by the replicas: a delivery GitHub (or a Standard Webhooks sender) retries
 * to another replica behind the load balancer is a replay there, and runs nothing.
 *
 * A claim is one insert of the id as primary key, `ON CONFLICT DO NOTHING`: of two replicas
 * inserting the same id at once, the second waits for the first's commit and inserts nothing. In
 * the same transaction, the expired ids go (a week old, or beyond the newest 100,000), pruned by one
 * replica at a time (a transaction-level advisory lock, tried, not waited for: a replica that finds
 * another pruning leaves it to that one), so pruners never wait on each other's rows. A prune
 * that fails rolls the claim back with it: a delivery is never claimed without being handled.
 * Times are the caller's clock, in milliseconds: a week's retention does not mind replicas'
 * clocks being seconds apart.
 */
export class PostgresSeenDeliveries extends SeenDeliveries {
  readonly #database: ServerPostgres;
  readonly #table: string;

  /** The connections are `database`'s, closed by its owner, not by `close()`. */
  constructor(database: ServerPostgres) {
    super();
    this.#database = database;
    this.#table = `${database.schema}.server_trigger_deliveries`;
  }

  claim(deliveryId: string, now = Date.now()): Promise<boolean> {
    return this.#database.transaction(async (client) => {
      const inserted = await client.query(`INSERT INTO ${this.#table} (delivery_id, received_at) VALUES ($1, $2) ON CONFLICT (delivery_id) DO NOTHING`, [
        deliveryId,
        now,
      ]);
      if (inserted.rowCount !== 1) return false;
      const { rows } = await client.query<{ pruning: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1), hashtext($2)) AS pruning', [
        'cairn.trigger-deliveries',
        this.#database.schema,
      ]);
      if (rows[0]?.pruning)
        await client.query(
          `DELETE FROM ${this.#table} WHERE received_at < $1 OR delivery_id IN
             (SELECT delivery_id FROM ${this.#table} ORDER BY received_at DESC OFFSET $2)`,
          [now - seenDeliveryKeptMs, seenDeliveryKeptIds],
        );
      return true;
    });
  }

  async release(deliveryId: string): Promise<void> {
    await this.#database.query(`DELETE FROM ${this.#table} WHERE delivery_id = $1`, [deliveryId]);
  }

  close(): void {}
}
