import { randomBytes } from 'node:crypto';
import type { CairnEventType } from '@cairn/core';
import type { ServerPostgres } from '../../../store/postgres/server-postgres.ts';
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

/** bigint columns come back from `pg` as strings (they may exceed 2^53; ours never do). */
interface DeliveryRow {
  delivery_id: string;
  webhook_id: string;
  event_id: string;
  event_type: CairnEventType;
  status: WebhookDeliveryStatus;
  attempts: string;
  last_status_code: string | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  updated_at: string;
}

const endpointColumns = 'webhook_id, url, events, run_id, description, since_event, created_at, created_by, disabled_at, disabled_reason';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The webhook store in the engine's PostgreSQL database (`server_webhook_*`), shared by every
 * replica: endpoints made at one are listed at all, and the deliveries and the cursor are where the
 * leading replica's dispatcher left them, so the next leader continues there. Recording a batch
 * of events locks the cursor row first: two dispatchers that overlap during a change of leader
 * (the old one not yet stopped) take turns, the cursor never moves back, and a delivery of an
 * event to an endpoint is enqueued once (`UNIQUE (webhook_id, event_id)`).
 */
export class PostgresWebhookStore implements WebhookStore {
  readonly #database: ServerPostgres;
  readonly #schema: string;

  constructor(database: ServerPostgres) {
    this.#database = database;
    this.#schema = database.schema;
  }

  async addEndpoint(endpoint: Omit<WebhookEndpoint, 'disabledAt' | 'disabledReason'>, secretEnvelope: string, sinceEvent: number): Promise<void> {
    const { webhookId, url, events, runId, description, createdAt, createdBy } = endpoint;
    await this.#database.query(
      `INSERT INTO ${this.#schema}.server_webhook_endpoints (${endpointColumns}, secret_envelope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9)`,
      [webhookId, url, events === null ? null : JSON.stringify(events), runId, description, sinceEvent, createdAt, createdBy, secretEnvelope],
    );
  }

  async endpoint(webhookId: string): Promise<WebhookEndpoint | undefined> {
    const { rows } = await this.#database.query<EndpointRow>(`SELECT ${endpointColumns} FROM ${this.#schema}.server_webhook_endpoints WHERE webhook_id = $1`, [
      webhookId,
    ]);
    return rows[0] && endpointOf(rows[0]);
  }

  async endpoints(): Promise<WebhookEndpoint[]> {
    const { rows } = await this.#database.query<EndpointRow>(
      `SELECT ${endpointColumns} FROM ${this.#schema}.server_webhook_endpoints ORDER BY created_at, webhook_id`,
    );
    return rows.map(endpointOf);
  }

  async secretEnvelope(webhookId: string): Promise<string | undefined> {
    const { rows } = await this.#database.query<{ secret_envelope: string }>(
      `SELECT secret_envelope FROM ${this.#schema}.server_webhook_endpoints WHERE webhook_id = $1`,
      [webhookId],
    );
    return rows[0]?.secret_envelope;
  }

  async removeEndpoint(webhookId: string): Promise<boolean> {
    return (await this.#database.query(`DELETE FROM ${this.#schema}.server_webhook_endpoints WHERE webhook_id = $1`, [webhookId])).rowCount > 0;
  }

  async cursor(): Promise<number | undefined> {
    const { rows } = await this.#database.query<{ after_event: string }>(`SELECT after_event FROM ${this.#schema}.server_webhook_cursor WHERE only_row = 0`);
    return rows[0] === undefined ? undefined : Number(rows[0].after_event);
  }

  async recordEvents(events: readonly WebhookEvent[], now: number): Promise<number> {
    if (events.length === 0) return 0;
    const last = events.at(-1)!.id;
    return this.#database.transaction(async (client) => {
      // The cursor row is locked for the batch: a second dispatcher waits here, then reads the
      // endpoints and enqueues after this one committed (its duplicates are ignored).
      await client.query(`INSERT INTO ${this.#schema}.server_webhook_cursor (only_row, after_event) VALUES (0, -1) ON CONFLICT (only_row) DO NOTHING`);
      await client.query(`SELECT after_event FROM ${this.#schema}.server_webhook_cursor WHERE only_row = 0 FOR UPDATE`);
      const { rows } = await client.query<EndpointRow>(
        `SELECT ${endpointColumns} FROM ${this.#schema}.server_webhook_endpoints WHERE disabled_at IS NULL AND since_event < $1`,
        [last],
      );
      const endpoints = rows.map((row) => ({ ...endpointOf(row), sinceEvent: Number(row.since_event) }));
      const columns: { id: string[]; webhook: string[]; event: number[]; type: string[]; body: string[] } = {
        id: [],
        webhook: [],
        event: [],
        type: [],
        body: [],
      };
      for (const event of events) {
        for (const endpoint of endpoints) {
          if (!endpointWants(endpoint, event)) continue;
          columns.id.push(`msg_${randomBytes(16).toString('hex')}`);
          columns.webhook.push(endpoint.webhookId);
          columns.event.push(event.id);
          columns.type.push(event.type);
          columns.body.push(deliveryBody(event));
        }
      }
      let enqueued = 0;
      if (columns.id.length > 0) {
        // One statement for the batch, whatever its size: arrays unnested into rows, in order.
        const inserted = await client.query(
          `INSERT INTO ${this.#schema}.server_webhook_deliveries (delivery_id, webhook_id, event_id, event_type, body, status, next_attempt_at, created_at, updated_at)
           SELECT delivery_id, webhook_id, event_id, event_type, body, 'pending', $6, $7, $7
           FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) AS batch (delivery_id, webhook_id, event_id, event_type, body)
           ON CONFLICT (webhook_id, event_id) DO NOTHING`,
          [columns.id, columns.webhook, columns.event, columns.type, columns.body, now, iso(now)],
        );
        enqueued = inserted.rowCount ?? 0;
      }
      // Never back: a dispatcher that read a shorter stream does not undo a longer one's progress.
      await client.query(`UPDATE ${this.#schema}.server_webhook_cursor SET after_event = GREATEST(after_event, $1) WHERE only_row = 0`, [last]);
      return enqueued;
    });
  }

  async skipWhenNoEndpoints(after: number): Promise<boolean> {
    return this.#database.transaction(async (client) => {
      // The cursor row is locked as `recordEvents` locks it: a batch recording meanwhile is not overtaken.
      await client.query(`INSERT INTO ${this.#schema}.server_webhook_cursor (only_row, after_event) VALUES (0, -1) ON CONFLICT (only_row) DO NOTHING`);
      await client.query(`SELECT after_event FROM ${this.#schema}.server_webhook_cursor WHERE only_row = 0 FOR UPDATE`);
      const enabled = await client.query(`SELECT 1 FROM ${this.#schema}.server_webhook_endpoints WHERE disabled_at IS NULL LIMIT 1`);
      if (enabled.rowCount !== 0) return false;
      await client.query(`UPDATE ${this.#schema}.server_webhook_cursor SET after_event = GREATEST(after_event, $1) WHERE only_row = 0`, [after]);
      return true;
    });
  }

  async initializeCursor(after: number): Promise<void> {
    await this.#database.query(`INSERT INTO ${this.#schema}.server_webhook_cursor (only_row, after_event) VALUES (0, $1) ON CONFLICT (only_row) DO NOTHING`, [
      after,
    ]);
  }

  async due(now: number, limit: number, excluded: readonly string[] = []): Promise<DueDelivery[]> {
    const { rows } = await this.#database.query<{ deliveryId: string; webhookId: string; url: string; body: string; attempts: string }>(
      `SELECT d.delivery_id AS "deliveryId", d.webhook_id AS "webhookId", e.url, d.body, d.attempts
       FROM ${this.#schema}.server_webhook_deliveries d JOIN ${this.#schema}.server_webhook_endpoints e USING (webhook_id)
       WHERE d.status = 'pending' AND e.disabled_at IS NULL AND d.next_attempt_at <= $1 AND NOT (d.delivery_id = ANY ($2::text[]))
       ORDER BY d.next_attempt_at, d.event_id LIMIT $3`,
      [now, excluded, limit],
    );
    return rows.map((row) => ({ ...row, attempts: Number(row.attempts) }));
  }

  async nextDueAt(excluded: readonly string[] = []): Promise<number | undefined> {
    const { rows } = await this.#database.query<{ at: string | null }>(
      `SELECT min(d.next_attempt_at) AS at
       FROM ${this.#schema}.server_webhook_deliveries d JOIN ${this.#schema}.server_webhook_endpoints e USING (webhook_id)
       WHERE d.status = 'pending' AND e.disabled_at IS NULL AND NOT (d.delivery_id = ANY ($1::text[]))`,
      [excluded],
    );
    const at = rows[0]?.at;
    return at === null || at === undefined ? undefined : Number(at);
  }

  async recordAttempt(deliveryId: string, outcome: DeliveryOutcome, now: number): Promise<void> {
    const status: WebhookDeliveryStatus = outcome.delivered ? 'succeeded' : outcome.retryAt === null ? 'failed' : 'pending';
    await this.#database.query(
      // A retry is no retry on a disabled endpoint; a "not sent" a disable wrote meanwhile gives way to the answer.
      `UPDATE ${this.#schema}.server_webhook_deliveries d SET
         status = CASE WHEN $1 = 'pending' AND ${disabledSql(this.#schema)} THEN 'failed' ELSE $1 END,
         attempts = attempts + 1, last_status_code = $2,
         last_error = CASE WHEN $1 = 'pending' AND ${disabledSql(this.#schema)} THEN coalesce($3, '') || '${notRetriedSuffix}' ELSE $3 END,
         next_attempt_at = CASE WHEN ${disabledSql(this.#schema)} THEN NULL ELSE $4::bigint END, updated_at = $5
       WHERE delivery_id = $6 AND (status = 'pending' OR (status = 'failed' AND last_error LIKE '${notSentPrefix}%'))`,
      [status, outcome.statusCode, outcome.error, outcome.delivered ? null : outcome.retryAt, iso(now), deliveryId],
    );
  }

  async disableEndpoint(webhookId: string, reason: string, now: number): Promise<boolean> {
    return this.#database.transaction(async (client) => {
      const disabled = await client.query(
        `UPDATE ${this.#schema}.server_webhook_endpoints SET disabled_at = $1, disabled_reason = $2 WHERE webhook_id = $3 AND disabled_at IS NULL`,
        [iso(now), reason, webhookId],
      );
      await client.query(
        `UPDATE ${this.#schema}.server_webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = $1, updated_at = $2
         WHERE webhook_id = $3 AND status = 'pending'`,
        [notSentError(reason), iso(now), webhookId],
      );
      return (disabled.rowCount ?? 0) > 0;
    });
  }

  async deliveries(webhookId: string, limit = 100): Promise<WebhookDelivery[]> {
    const { rows } = await this.#database.query<DeliveryRow>(
      `SELECT * FROM (SELECT * FROM ${this.#schema}.server_webhook_deliveries WHERE webhook_id = $1 ORDER BY event_id DESC LIMIT $2) AS latest ORDER BY event_id`,
      [webhookId, limit],
    );
    return rows.map((row) => ({
      deliveryId: row.delivery_id,
      webhookId: row.webhook_id,
      eventId: Number(row.event_id),
      eventType: row.event_type,
      status: row.status,
      attempts: Number(row.attempts),
      lastStatusCode: row.last_status_code === null ? null : Number(row.last_status_code),
      lastError: row.last_error,
      nextAttemptAt: row.next_attempt_at === null ? null : iso(Number(row.next_attempt_at)),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }

  /** The connections are the composition's (shared with the token store): it closes them. */
  async close(): Promise<void> {}
}

/** Whether the delivery `d` being updated belongs to a disabled endpoint. */
function disabledSql(schema: string): string {
  return `EXISTS (SELECT 1 FROM ${schema}.server_webhook_endpoints e WHERE e.webhook_id = d.webhook_id AND e.disabled_at IS NOT NULL)`;
}
