import Database from 'better-sqlite3';
import { SeenDeliveries, seenDeliveryKeptIds, seenDeliveryKeptMs } from '../seen-deliveries.ts';

/**
 * The deliveries already handled, in a SQLite file of the data directory (`triggers.db`): a single
 * server's. (The table keeps its first name, github_deliveries.)
 */
export class SqliteSeenDeliveries extends SeenDeliveries {
  readonly #database: Database.Database;
  readonly #claim: Database.Statement<[string, number]>;
  readonly #release: Database.Statement<[string]>;
  readonly #expire: Database.Statement<[number, number]>;

  constructor(file: string) {
    super();
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

  /** Its statements run synchronously, before the promise is made: two copies arriving together cannot both claim it. */
  claim(deliveryId: string, now = Date.now()): Promise<boolean> {
    const claimed = this.#claim.run(deliveryId, now).changes === 1;
    if (claimed) this.#expire.run(now - seenDeliveryKeptMs, seenDeliveryKeptIds);
    return Promise.resolve(claimed);
  }

  release(deliveryId: string): Promise<void> {
    this.#release.run(deliveryId);
    return Promise.resolve();
  }

  close(): void {
    this.#database.close();
  }
}
