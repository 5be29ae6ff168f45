import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import type { CairnEventType } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import {
  deliveryBody,
  endpointOf,
  endpointWants,
  notRetriedSuffix,
  notSentError,
  notSentPrefix,
  type EndpointRow,
  type DeliveryOutcome,
  type DueDelivery,
  type WebhookDelivery,
  type WebhookDeliveryStatus,
  type WebhookEndpoint,
  type WebhookEvent,
  type WebhookStore,
} from '../webhook-store.ts';

interface DeliveryRow {
  delivery_id: string;
  webhook_id: string;
  event_id: number;
  event_type: CairnEventType;
  status: WebhookDeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: number | null;
  created_at: string;
  updated_at: string;
}

// Whether the delivery's endpoint is disabled (inside an UPDATE of deliveries).
const endpointDisabled = 'EXISTS (SELECT 1 FROM endpoints e WHERE e.webhook_id = deliveries.webhook_id AND e.disabled_at IS NOT NULL)';

const schema = `
CREATE TABLE endpoints (
  webhook_id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  events TEXT,
  run_id TEXT,
  description TEXT,
  secret_envelope TEXT NOT NULL,
  since_event INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  disabled_at TEXT,
  disabled_reason TEXT
);
CREATE TABLE deliveries (
  delivery_id TEXT PRIMARY KEY,
  webhook_id TEXT NOT NULL REFERENCES endpoints (webhook_id) ON DELETE CASCADE,
  event_id INTEGER NOT NULL,
  event_type TEXT NOT NULL,
  body TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_status_code INTEGER,
  last_error TEXT,
  next_attempt_at INTEGER,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_of_endpoint ON deliveries (webhook_id, event_id);
CREATE TABLE cursor (only INTEGER PRIMARY KEY CHECK (only = 0), after_event INTEGER NOT NULL);
`;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The webhook store in a SQLite database of its own (`webhooks.db` beside the engine's): the
 * engine's database is the engine's. Every call runs synchronously, and is on the disk, before its
 * promise settles.
 */
export class SqliteWebhookStore implements WebhookStore {
  readonly #database: Database.Database;
  readonly #statements;

  constructor(path: string) {
    try {
      this.#database = new Database(path);
    } catch (error) {
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `Cannot open the webhooks database ${path}: ${(error as Error).message}. Check the data directory and its permissions.`,
        { path, cause: error },
      );
    }
    const database = this.#database;
    database.pragma('journal_mode = WAL');
    // Every transaction synced before its promise settles: a webhook an admin was told exists, and
    // a delivery recorded, survive a power loss (a few writes a delivery: an fsync each is cheap
    // beside the HTTP request it records).
    database.pragma('synchronous = FULL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    const version = database.pragma('user_version', { simple: true }) as number;
    if (version > 1) {
      database.close();
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `The webhooks database ${path} has schema version ${version}, newer than this server knows (1). Upgrade Cairn.`,
        { path },
      );
    }
    if (version === 0) {
      database.transaction(() => {
        database.exec(schema);
        database.pragma('user_version = 1');
      })();
    }
    const endpointColumns = 'webhook_id, url, events, run_id, description, since_event, created_at, created_by, disabled_at, disabled_reason';
    this.#statements = {
      insertEndpoint: database.prepare(`INSERT INTO endpoints (${endpointColumns}, secret_envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)`),
      endpoint: database.prepare<[string], EndpointRow>(`SELECT ${endpointColumns} FROM endpoints WHERE webhook_id = ?`),
      endpoints: database.prepare<[], EndpointRow>(`SELECT ${endpointColumns} FROM endpoints ORDER BY created_at, webhook_id`),
      enabledSince: database.prepare<[number], EndpointRow>(`SELECT ${endpointColumns} FROM endpoints WHERE disabled_at IS NULL AND since_event < ?`),
      anyEnabled: database.prepare<[], { one: number }>('SELECT 1 AS one FROM endpoints WHERE disabled_at IS NULL LIMIT 1'),
      secretEnvelope: database.prepare<[string], { secret_envelope: string }>('SELECT secret_envelope FROM endpoints WHERE webhook_id = ?'),
      removeEndpoint: database.prepare('DELETE FROM endpoints WHERE webhook_id = ?'),
      disableEndpoint: database.prepare('UPDATE endpoints SET disabled_at = ?, disabled_reason = ? WHERE webhook_id = ? AND disabled_at IS NULL'),
      failPendingOf: database.prepare(
        "UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ?, updated_at = ? WHERE webhook_id = ? AND status = 'pending'",
      ),
      cursor: database.prepare<[], { after_event: number }>('SELECT after_event FROM cursor WHERE only = 0'),
      setCursor: database.prepare(
        'INSERT INTO cursor (only, after_event) VALUES (0, ?) ON CONFLICT (only) DO UPDATE SET after_event = max(after_event, excluded.after_event)',
      ),
      enqueue: database.prepare(
        "INSERT OR IGNORE INTO deliveries (delivery_id, webhook_id, event_id, event_type, body, status, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
      ),
      due: database.prepare<[number, string, number], DueDelivery>(
        `SELECT d.delivery_id AS deliveryId, d.webhook_id AS webhookId, e.url, d.body, d.attempts FROM deliveries d JOIN endpoints e USING (webhook_id)
         WHERE d.status = 'pending' AND e.disabled_at IS NULL AND d.next_attempt_at <= ? AND d.delivery_id NOT IN (SELECT value FROM json_each(?))
         ORDER BY d.next_attempt_at, d.event_id LIMIT ?`,
      ),
      nextDue: database.prepare<[string], { at: number | null }>(
        "SELECT MIN(d.next_attempt_at) AS at FROM deliveries d JOIN endpoints e USING (webhook_id) WHERE d.status = 'pending' AND e.disabled_at IS NULL AND d.delivery_id NOT IN (SELECT value FROM json_each(?))",
      ),
      // A retry is no retry on a disabled endpoint; a "not sent" a disable wrote meanwhile gives way to the answer.
      settle: database.prepare(
        `UPDATE deliveries SET
           status = CASE WHEN @status = 'pending' AND ${endpointDisabled} THEN 'failed' ELSE @status END,
           attempts = attempts + 1, last_status_code = @statusCode,
           last_error = CASE WHEN @status = 'pending' AND ${endpointDisabled} THEN coalesce(@error, '') || '${notRetriedSuffix}' ELSE @error END,
           next_attempt_at = CASE WHEN ${endpointDisabled} THEN NULL ELSE @retryAt END, updated_at = @now
         WHERE delivery_id = @deliveryId AND (status = 'pending' OR (status = 'failed' AND last_error LIKE '${notSentPrefix}%'))`,
      ),
      deliveries: database.prepare<[string, number], DeliveryRow>(
        'SELECT * FROM (SELECT * FROM deliveries WHERE webhook_id = ? ORDER BY event_id DESC LIMIT ?) ORDER BY event_id',
      ),
    };
  }

  /** Stores a new endpoint; it receives events after `sinceEvent` (the log's end when it was made). */
  async addEndpoint(endpoint: Omit<WebhookEndpoint, 'disabledAt' | 'disabledReason'>, secretEnvelope: string, sinceEvent: number): Promise<void> {
    const { webhookId, url, events, runId, description, createdAt, createdBy } = endpoint;
    this.#statements.insertEndpoint.run(
      webhookId,
      url,
      events === null ? null : JSON.stringify(events),
      runId,
      description,
      sinceEvent,
      createdAt,
      createdBy,
      secretEnvelope,
    );
  }

  async endpoint(webhookId: string): Promise<WebhookEndpoint | undefined> {
    const row = this.#statements.endpoint.get(webhookId);
    return row && endpointOf(row);
  }

  async endpoints(): Promise<WebhookEndpoint[]> {
    return this.#statements.endpoints.all().map(endpointOf);
  }

  /** The encrypted secret of an endpoint (a CipherV1 envelope as JSON). */
  async secretEnvelope(webhookId: string): Promise<string | undefined> {
    return this.#statements.secretEnvelope.get(webhookId)?.secret_envelope;
  }

  /** Removes an endpoint and its deliveries; false when there was none. */
  async removeEndpoint(webhookId: string): Promise<boolean> {
    return this.#statements.removeEndpoint.run(webhookId).changes > 0;
  }

  /** The last event id whose deliveries were enqueued, if the stream was ever read. */
  async cursor(): Promise<number | undefined> {
    return this.#cursor();
  }

  #cursor(): number | undefined {
    return this.#statements.cursor.get()?.after_event;
  }

  /**
   * Enqueues one delivery of each event (in order) per enabled endpoint that wants it, due now, and
   * moves the cursor past the last — in one transaction, so a crash records all of them or none.
   * The endpoints are read once for the batch. Returns how many deliveries were enqueued.
   */
  async recordEvents(events: readonly WebhookEvent[], now: number): Promise<number> {
    if (events.length === 0) return 0;
    return this.#database.transaction(() => {
      let enqueued = 0;
      const endpoints = this.#statements.enabledSince.all(events.at(-1)!.id).map((row) => ({ ...endpointOf(row), sinceEvent: Number(row.since_event) }));
      for (const event of events) {
        for (const endpoint of endpoints) {
          if (!endpointWants(endpoint, event)) continue;
          const body = deliveryBody(event);
          enqueued += this.#statements.enqueue.run(
            `msg_${randomBytes(16).toString('hex')}`,
            endpoint.webhookId,
            event.id,
            event.type,
            body,
            now,
            iso(now),
            iso(now),
          ).changes;
        }
      }
      this.#statements.setCursor.run(events.at(-1)!.id);
      return enqueued;
    })();
  }

  /** Starts the cursor at `after` when the stream was never read (a new database). */
  async initializeCursor(after: number): Promise<void> {
    if (this.#cursor() === undefined) this.#statements.setCursor.run(after);
  }

  async skipWhenNoEndpoints(after: number): Promise<boolean> {
    return this.#database.transaction(() => {
      if (this.#statements.anyEnabled.get() !== undefined) return false;
      this.#statements.setCursor.run(after);
      return true;
    })();
  }

  /** Pending deliveries of enabled endpoints due at `now`, oldest first, but those in `excluded` (in flight). */
  async due(now: number, limit: number, excluded: readonly string[] = []): Promise<DueDelivery[]> {
    return this.#statements.due.all(now, JSON.stringify([...excluded]), limit);
  }

  /** When the next pending delivery not in `excluded` is due (ms), if one is pending. */
  async nextDueAt(excluded: readonly string[] = []): Promise<number | undefined> {
    return this.#statements.nextDue.get(JSON.stringify([...excluded]))?.at ?? undefined;
  }

  /** Records an attempt's outcome: delivered, to be retried at `retryAt`, or failed (`retryAt` null). */
  async recordAttempt(deliveryId: string, outcome: DeliveryOutcome, now: number): Promise<void> {
    const status: WebhookDeliveryStatus = outcome.delivered ? 'succeeded' : outcome.retryAt === null ? 'failed' : 'pending';
    this.#statements.settle.run({
      status,
      statusCode: outcome.statusCode,
      error: outcome.error,
      retryAt: outcome.delivered ? null : outcome.retryAt,
      now: iso(now),
      deliveryId,
    });
  }

  /** Stops sending to an endpoint (it answered 410 Gone): its pending deliveries fail. */
  async disableEndpoint(webhookId: string, reason: string, now: number): Promise<boolean> {
    return this.#database.transaction(() => {
      const disabled = this.#statements.disableEndpoint.run(iso(now), reason, webhookId).changes > 0;
      this.#statements.failPendingOf.run(notSentError(reason), iso(now), webhookId);
      return disabled;
    })();
  }

  /** An endpoint's latest deliveries (up to `limit`), oldest first. */
  async deliveries(webhookId: string, limit = 100): Promise<WebhookDelivery[]> {
    return this.#statements.deliveries.all(webhookId, limit).map((row) => ({
      deliveryId: row.delivery_id,
      webhookId: row.webhook_id,
      eventId: row.event_id,
      eventType: row.event_type,
      status: row.status,
      attempts: row.attempts,
      lastStatusCode: row.last_status_code,
      lastError: row.last_error,
      nextAttemptAt: row.next_attempt_at === null ? null : iso(row.next_attempt_at),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }

  async close(): Promise<void> {
    this.#database.close();
  }
}
