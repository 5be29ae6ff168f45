import type { WebhookDeliveryView, WebhookView } from '@cairn/client';
import type { CairnEvent, ModelCallSpend } from '@cairn/core';

/**
 * An endpoint as listed (never its secret) and a delivery as reported: the shapes `@cairn/client`
 * declares for these answers, so the server and its client cannot drift apart.
 */
export type WebhookEndpoint = WebhookView;
export type WebhookDelivery = WebhookDeliveryView;
export type WebhookDeliveryStatus = WebhookDeliveryView['status'];

/** A due delivery, with what sending it needs. */
export interface DueDelivery {
  readonly deliveryId: string;
  readonly webhookId: string;
  readonly url: string;
  readonly body: string;
  readonly attempts: number;
}

/** What an attempt came to: delivered, to be retried at `retryAt`, or failed (`retryAt` null). */
export interface DeliveryOutcome {
  readonly delivered: boolean;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly retryAt: number | null;
}

/**
 * Endpoints, their deliveries and how far the engine's event stream has been read. Two stores: a
 * SQLite database of the data directory (`SqliteWebhookStore`, `webhooks.db`) and the engine's
 * PostgreSQL database (`PostgresWebhookStore`), where every replica sees the same endpoints and a
 * replica that takes the lead continues the deliveries and the cursor where the last one stopped.
 * Enqueuing an event's deliveries and moving the cursor past it are one transaction in both, so a
 * crash either enqueues all of them and moves on, or none and reads the event again.
 */
export interface WebhookStore {
  /** Stores a new endpoint; it receives events after `sinceEvent` (the log's end when it was made). */
  addEndpoint(endpoint: Omit<WebhookEndpoint, 'disabledAt' | 'disabledReason'>, secretEnvelope: string, sinceEvent: number): Promise<void>;
  endpoint(webhookId: string): Promise<WebhookEndpoint | undefined>;
  endpoints(): Promise<WebhookEndpoint[]>;
  /** The encrypted secret of an endpoint (a CipherV1 envelope as JSON). */
  secretEnvelope(webhookId: string): Promise<string | undefined>;
  /** Removes an endpoint and its deliveries; false when there was none. */
  removeEndpoint(webhookId: string): Promise<boolean>;
  /** The last event id whose deliveries were enqueued, if the stream was ever read. */
  cursor(): Promise<number | undefined>;
  /**
   * Enqueues one delivery of each event (in order) per enabled endpoint that wants it, due now, and
   * moves the cursor past the last, in one transaction. Returns how many deliveries were enqueued
   * (a delivery already enqueued for an endpoint and event is not enqueued twice).
   */
  recordEvents(events: readonly WebhookEvent[], now: number): Promise<number>;
  /** Starts the cursor at `after` when the stream was never read (a new database). */
  initializeCursor(after: number): Promise<void>;
  /**
   * Moves the cursor to `after` (never back) when no enabled endpoint exists, and says whether it
   * did; one transaction. Nothing up to `after` is anyone's then: an endpoint made later starts at
   * the log's end when it is made, which is at or after `after` when `after` was read first.
   */
  skipWhenNoEndpoints(after: number): Promise<boolean>;
  /** Pending deliveries of enabled endpoints due at `now`, oldest first, but those in `excluded` (in flight). */
  due(now: number, limit: number, excluded?: readonly string[]): Promise<DueDelivery[]>;
  /** When the next pending delivery not in `excluded` is due (ms), if one is pending. */
  nextDueAt(excluded?: readonly string[]): Promise<number | undefined>;
  /**
   * Records an attempt's outcome, also over the "not sent" failure a disable wrote while the
   * attempt was under way (it was sent: its answer is what happened). An outcome that would retry
   * on a disabled endpoint fails instead, saying so.
   */
  recordAttempt(deliveryId: string, outcome: DeliveryOutcome, now: number): Promise<void>;
  /**
   * Stops sending to an endpoint (it answered 410 Gone): its pending deliveries fail, as not sent
   * (`notSentError`). Whether this call disabled it (false when it was disabled already, say by
   * another delivery's 410 at once).
   */
  disableEndpoint(webhookId: string, reason: string, now: number): Promise<boolean>;
  /** An endpoint's latest deliveries (up to `limit`), oldest first. */
  deliveries(webhookId: string, limit?: number): Promise<WebhookDelivery[]>;
  close(): Promise<void>;
}

/** Why a delivery pending when its endpoint was disabled failed; an attempt under way then records its answer over it. */
export function notSentError(reason: string): string {
  return `${notSentPrefix} (${reason})`;
}
export const notSentPrefix = 'not sent: the endpoint was disabled';
/** Added to the error of an attempt that would have been retried, had its endpoint not been disabled meanwhile. */
export const notRetriedSuffix = '; not retried: the endpoint was disabled';

/**
 * An event as a webhook delivers it: a run's `run.state` event when it ended or awaits a budget
 * raise also carries what its model calls spent (`withRunSpend`).
 */
export type WebhookEvent = CairnEvent & { readonly spend?: ModelCallSpend };

/** The body a delivery of `event` sends (Standard Webhooks' envelope, with the run's spend beside the event when it has one). */
export function deliveryBody(event: WebhookEvent): string {
  const { spend, ...data } = event;
  return JSON.stringify({ type: event.type, timestamp: event.time, data, ...(spend === undefined ? {} : { spend }) });
}

/** Whether an endpoint wants `event`: after its start, of its run (if it names one), of its types (if it names some). */
export function endpointWants(endpoint: Pick<WebhookEndpoint, 'runId' | 'events'> & { readonly sinceEvent: number }, event: CairnEvent): boolean {
  if (endpoint.sinceEvent >= event.id) return false;
  if (endpoint.runId !== null && endpoint.runId !== event.runId) return false;
  return endpoint.events === null || endpoint.events.includes(event.type);
}

/** An endpoint's row as both stores keep it (`since_event` is a bigint string from PostgreSQL). */
export interface EndpointRow {
  webhook_id: string;
  url: string;
  events: string | null;
  run_id: string | null;
  description: string | null;
  since_event: number | string;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
  disabled_reason: string | null;
}

/** The endpoint an `EndpointRow` holds. */
export function endpointOf(row: EndpointRow): WebhookEndpoint {
  return {
    webhookId: row.webhook_id,
    url: row.url,
    events: row.events === null ? null : (JSON.parse(row.events) as string[]),
    runId: row.run_id,
    description: row.description,
    createdAt: row.created_at,
    createdBy: row.created_by,
    disabledAt: row.disabled_at,
    disabledReason: row.disabled_reason,
  };
}
