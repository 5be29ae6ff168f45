import { auditActorSchema } from '@cairn/protocol';
import { z } from 'zod';

const actor = auditActorSchema;
const id = z.string().min(1).max(200);

/**
 * The audit entries a host (the server) writes about what it owns itself, one shape per action:
 * an access it refused, the tokens it issues, the webhooks it sends to. Nothing else: a run, an
 * item, a secret or a schedule is only ever audited by the engine, in the transaction of its
 * change. A record may come from another process (a replica that does not run the engine sends
 * it as a command), so this is also its runtime check.
 */
export const hostAuditRecordSchema = z.discriminatedUnion(
  'action',
  [
    z.strictObject({
      action: z.literal('access.denied'),
      actor,
      /** What the refused request was about. */
      entity: z.strictObject({ kind: z.enum(['run', 'item', 'server']), id }),
      /** The action the request needed (`runs.submit`, `tokens.manage`, ...). */
      requestedAction: z.string().min(1).max(200),
      reason: z.string().min(1).max(2_000),
    }),
    z.strictObject({
      action: z.literal('token.created'),
      actor,
      tokenId: id,
      name: z.string().min(1).max(200),
      scopes: z.array(z.string().min(1).max(200)).max(256),
    }),
    z.strictObject({ action: z.literal('token.revoked'), actor, tokenId: id, name: z.string().min(1).max(200) }),
    z.strictObject({
      action: z.literal('webhook.created'),
      actor,
      webhookId: id,
      /** The endpoint's origin (never its path or query, which may carry a credential). */
      origin: z.string().min(1).max(2_000),
      events: z.union([z.literal('all'), z.array(z.string().min(1).max(200)).min(1)]),
      runId: id.optional(),
    }),
    z.strictObject({ action: z.literal('webhook.removed'), actor, webhookId: id, origin: z.string().min(1).max(2_000) }),
    z.strictObject({ action: z.literal('webhook.disabled'), actor, webhookId: id, reason: z.string().min(1).max(2_000) }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? `must be one of the actions a host audits: ${hostAuditActions.join(', ')}` : undefined) },
);

/** One audit entry a host writes, before the log numbers and times it. */
export type HostAuditRecord = z.input<typeof hostAuditRecordSchema>;

/** The actions a host may audit: every other action is the engine's. */
export const hostAuditActions = ['access.denied', 'token.created', 'token.revoked', 'webhook.created', 'webhook.removed', 'webhook.disabled'] as const;

/** The action of a host audit record. */
export type HostAuditAction = (typeof hostAuditActions)[number];
