import type { RunnerExecutor } from '@cairn/runner';
import type { AuditAnchorV1, AuthorizerV1, CipherV1, PublicKeyRecord, SignerV1, StorageProviderV1 } from '@cairn/core';
import type { Engine, EngineService, SignerTakeOver } from '@cairn/engine';
import type { OidcSignIn } from '../capabilities/access/oidc-sign-in.ts';
import type { TokenStore } from '../capabilities/access/token-store.ts';
import type { ServerTriggers } from '../capabilities/triggers/compose-triggers.ts';
import type { WebhookDispatcher } from '../capabilities/webhooks/webhook-dispatcher.ts';
import type { WebhookEndpoints } from '../capabilities/webhooks/webhook-endpoints.ts';
import type { LogSinkHealth } from '../logging/log-sink-health.ts';
import type { ServerMetrics } from '../metrics/server-metrics.ts';
import type { DiskRoom } from './disk-room.ts';

// What `composeServer` (compose-server.ts) hands the HTTP app, the CLI and the modules' routes: a
// file of types alone, so that a route reading it does not import the composition that builds it.

/** What a server is made of: the engine and the seams it composes. */
export interface ServerComposition {
  /**
   * The engine this process runs. With SQLite, always; with PostgreSQL, only while this replica
   * holds the writer lease (otherwise reading it throws CAIRN_STATE_UNAVAILABLE). The server itself
   * asks the engine for nothing through it: everything goes through `service`, which every replica
   * has; tests and embedders may look inside.
   */
  readonly engine: Engine;
  /** What the server uses of the engine: async reads and commands, event streams, and `hostAudit`. */
  readonly service: EngineService;
  /**
   * Starts running the engine: at once with SQLite; with PostgreSQL, this replica bids for the
   * writer lease and runs the engine whenever it holds it (ADR 0023).
   */
  start(): void;
  /**
   * Checks the signer against the audit log's key before the server serves (and hands a rotation
   * over), refusing a key that may not sign it. Undefined in PostgreSQL mode: a replica checks its
   * signer each time it takes the lease, and one that is refused gives the lease up for good.
   */
  checkSigner(): Promise<SignerTakeOver | undefined>;
  readonly storage: StorageProviderV1;
  readonly signer: SignerV1;
  readonly cipher: CipherV1;
  readonly anchors: readonly AuditAnchorV1[];
  /** The signer's public key, as verifiers pin it. */
  readonly signingKey: PublicKeyRecord;
  /** The origin its checkpoints name (the config's engine origin): the server, as what it signs names it (the builder of a patch's provenance). */
  readonly origin: string;
  /**
   * The server's bearer tokens (hashed) and the authorizer over them: the token file, or in
   * PostgreSQL mode the engine's database, shared by every replica.
   */
  readonly tokens: TokenStore;
  readonly authorizer: AuthorizerV1;
  /** Sign-in through the identity provider (`server.oidc` with a dashboard or CLI client); none without. */
  readonly signIn?: OidcSignIn;
  readonly metrics: ServerMetrics;
  /** Whether the log is being written (`options.logSink`): `/readyz` reports it; none when the embedder keeps the log. */
  readonly logSink?: LogSinkHealth;
  /**
   * Whether the disks the server and its tasks write to have room: `/readyz` answers 503 while one
   * has less than 1 MiB free, even before a write of the engine's fails (see `DiskRoom`).
   */
  readonly diskRoom?: DiskRoom;
  /** Webhook endpoints (secrets encrypted with `cipher`) and their deliveries: `webhooks.db`, or in PostgreSQL mode the engine's database. */
  readonly webhooks: WebhookEndpoints;
  /**
   * Sends the engine's events to the endpoints; `start()` it with the engine, `close()` stops it.
   * In PostgreSQL mode it sends only while this replica runs the engine, so one replica sends each
   * delivery.
   */
  readonly webhookDispatcher: Pick<WebhookDispatcher, 'start' | 'stop'>;
  /** Where the model gateway listens, when `gateway.enabled` (ADR 0033). */
  readonly gatewayUrl?: string;
  /** The `runners` executor's lease book (ADR 0050), when `runners.enabled`: what runners poll. */
  readonly runners?: RunnerExecutor;
  /** Run templates, and the GitHub trigger when `triggers.github` is configured. */
  readonly triggers: ServerTriggers;
  /**
   * Closes what the server started, in reverse: lets a delivery under way finish, closes the
   * triggers, stops the webhook dispatcher, the engine and the gateway, closes the stores and ends
   * the tracing.
   */
  close(): Promise<void>;
}
