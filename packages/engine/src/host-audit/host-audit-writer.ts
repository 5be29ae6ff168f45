import type { AuditActor } from '@cairn/core';

/** A request the host refused: who, what it was about, the action it needed and why it was refused. */
export interface AccessDenial {
  readonly actor: AuditActor;
  readonly entity: { readonly kind: 'run' | 'item' | 'server'; readonly id: string };
  readonly requestedAction: string;
  readonly reason: string;
}

/**
 * What a host (the server) may write to the engine's audit log: exactly the actions it owns, each
 * a method with a typed argument that builds the entry. There is no generic append, so a host
 * cannot write a run's, an item's or any other engine entry. Each resolves once the entry is in
 * the log (in PostgreSQL mode, a replica sends it to the engine as a command); it rejects with
 * CAIRN_PAYLOAD_INVALID for a malformed argument, and CAIRN_ENGINE_STORAGE_FULL when the disk under
 * the engine is full (nothing is written).
 */
export interface HostAuditWriter {
  /** `access.denied` (outcome `denied`): a request refused by the host's authorization. */
  accessDenied(denial: AccessDenial): Promise<void>;
  /** `token.created`: a token issued, with its name and scopes (never its secret). */
  tokenCreated(token: { readonly actor: AuditActor; readonly tokenId: string; readonly name: string; readonly scopes: readonly string[] }): Promise<void>;
  /** `token.revoked`. */
  tokenRevoked(token: { readonly actor: AuditActor; readonly tokenId: string; readonly name: string }): Promise<void>;
  /** `webhook.created`: the endpoint's origin (not its full URL), the events it takes, and its run if it follows one. */
  webhookCreated(webhook: {
    readonly actor: AuditActor;
    readonly webhookId: string;
    readonly origin: string;
    readonly events: 'all' | readonly string[];
    readonly runId?: string;
  }): Promise<void>;
  /** `webhook.removed`. */
  webhookRemoved(webhook: { readonly actor: AuditActor; readonly webhookId: string; readonly origin: string }): Promise<void>;
  /** `webhook.disabled`: the host stopped sending to an endpoint on its own (it answered 410 Gone). */
  webhookDisabled(webhook: { readonly actor: AuditActor; readonly webhookId: string; readonly reason: string }): Promise<void>;
}
