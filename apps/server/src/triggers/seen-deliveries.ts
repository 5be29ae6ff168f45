import Database from 'better-sqlite3';
import { isRefusalOfDelivery } from './triggered-run.ts';

/** GitHub lets a delivery be redelivered for 3 days; ids are kept a week. */
const keptMs = 7 * 24 * 3_600_000;
/** At most this many ids are kept (the oldest go first), whatever arrives. */
const keptIds = 100_000;

/**
 * The deliveries already handled — GitHub's (X-GitHub-Delivery) and Standard Webhooks' (`webhook-id`,
 * kept as `webhooks/NAME:ID`) — in a SQLite file of the data directory, so a replay (a sender's
 * redelivery, or an attacker's copy of a signed request) runs nothing twice, across restarts. Ids
 * expire after a week and are bounded in number. (The table keeps its first name, github_deliveries.)
 */
export class SeenDeliveries {
  readonly #database: Database.Database;
  readonly #claim: Database.Statement<[string, number]>;
  readonly #release: Database.Statement<[string]>;
  readonly #expire: Database.Statement<[number, number]>;

  constructor(file: string) {
    this.#database = new Database(file);
    this.#database.pragma('journal_mode = WAL');
    this.#database.exec('CREATE TABLE IF NOT EXISTS github_deliveries (delivery_id TEXT PRIMARY KEY, received_at INTEGER NOT NULL) WITHOUT ROWID');
    this.#database.exec('CREATE INDEX IF NOT EXISTS github_deliveries_received ON github_deliveries (received_at)');
    this.#claim = this.#database.prepare('INSERT OR IGNORE INTO github_deliveries (delivery_id, received_at) VALUES (?, ?)');
    this.#release = this.#database.prepare('DELETE FROM github_deliveries WHERE delivery_id = ?');
    this.#expire = this.#database.prepare(
      `DELETE FROM github_deliveries WHERE received_at < ? OR delivery_id IN
         (SELECT delivery_id FROM github_deliveries ORDER BY received_at DESC LIMIT -1 OFFSET ?)`,
    );
  }

  /**
   * Records `deliveryId` as handled: true the first time, false when it was already (a replay).
   * Synchronous, so two copies arriving together cannot both claim it.
   */
  claim(deliveryId: string, now = Date.now()): boolean {
    const claimed = this.#claim.run(deliveryId, now).changes === 1;
    if (claimed) this.#expire.run(now - keptMs, keptIds);
    return claimed;
  }

  /** Forgets a claim whose handling failed on the server's side, so GitHub's redelivery is handled. */
  release(deliveryId: string): void {
    this.#release.run(deliveryId);
  }

  /**
   * Handles `deliveryId` once: `handle`'s result the first time, undefined for a replay. A refusal
   * for what the delivery asks (`isRefusalOfDelivery`) keeps the claim, since a redelivery would be
   * refused again; a failure on this side (a forge unreachable, a server secret unset) releases it,
   * so the sender's redelivery is handled afresh.
   */
  async handleOnce<T>(deliveryId: string, handle: () => Promise<T>): Promise<T | undefined> {
    if (!this.claim(deliveryId)) return undefined;
    try {
      return await handle();
    } catch (error) {
      if (!isRefusalOfDelivery(error)) this.release(deliveryId);
      throw error;
    }
  }

  close(): void {
    this.#database.close();
  }
}
