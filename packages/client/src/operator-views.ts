// What an operator manages on the server: tokens, webhook endpoints and their deliveries, runners.

/** A bearer token as the server lists it: never its secret. */
export interface TokenView {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly createdAt: string;
  readonly revokedAt?: string;
  /** Who it belongs to (a person or a service; `token:<id>` for a token made before principals were recorded). */
  readonly principal?: string;
}

/** A webhook endpoint as the server lists it (never its secret). */
export interface WebhookView {
  readonly webhookId: string;
  readonly url: string;
  /** The event types it receives; `null`: every type. */
  readonly events: readonly string[] | null;
  readonly runId: string | null;
  readonly description: string | null;
  readonly createdAt: string;
  readonly createdBy: string;
  /** Set when the receiver answered 410 Gone. */
  readonly disabledAt: string | null;
  readonly disabledReason: string | null;
}

/** One event on its way to one webhook endpoint. */
export interface WebhookDeliveryView {
  /** The `webhook-id` header, the same on every attempt. */
  readonly deliveryId: string;
  readonly webhookId: string;
  readonly eventId: number;
  readonly eventType: string;
  readonly status: 'pending' | 'succeeded' | 'failed';
  readonly attempts: number;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly nextAttemptAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A runner that polled the server since it started (ADR 0050), as `GET /v1/runners` lists it. */
export interface RunnerView {
  /** Its token's actor, `token:<id>`. */
  readonly name: string;
  /** The name its token was made with (`cairn token create --name`); null when the token is not listed. */
  readonly tokenName: string | null;
  readonly tokenRevoked: boolean;
  readonly version: string;
  readonly labels: readonly string[];
  /** Attempts it could start, as of its last poll (0 while it drains). */
  readonly slots: number;
  /** Attempts it holds now. */
  readonly held: number;
  readonly lastSeen: string;
  /** `connected`: waiting in a poll or polled within the lease time; `lost`: not, and its attempts were recorded lost. */
  readonly state: 'connected' | 'lost';
  /** Drained: given no new attempts until resumed. */
  readonly draining: boolean;
}
