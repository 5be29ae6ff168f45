import type { AuditAction, AuditEntityKind, AuditEntry, JsonObject } from '@cairn/core';
import { z } from 'zod';
import { auditActorSchema } from './actor-schema.ts';
import { countSchema, timestampSchema } from './common-schemas.ts';
import type { SchemaImplements } from './schema-implements.ts';

/** Every audited action, the closed vocabulary of `AuditAction` as values. */
export const auditActions = [
  'run.submitted',
  'run.started',
  'run.budget-exhausted',
  'run.budget-raised',
  'run.extended',
  'run.succeeded',
  'run.failed',
  'run.cancelled',
  'item.blocked',
  'item.ready',
  'item.approval-requested',
  'item.approval-voted',
  'item.approved',
  'item.skipped',
  'item.cancelled',
  'item.succeeded',
  'item.failed',
  'item.rejected',
  'item.reused',
  'attempt.dispatched',
  'attempt.started',
  'attempt.completed',
  'attempt.lost',
  'attempt.cancelled',
  'attempt.result-rejected',
  'candidate.checked',
  'candidate.selected',
  'candidate.none-passed',
  'candidate.judged',
  'candidate.judge-refused',
  'model.called',
  'artifact.stored',
  'token.created',
  'token.revoked',
  'schedule.created',
  'schedule.removed',
  'schedule.fired',
  'schedule.skipped',
  'secret.set',
  'secret.removed',
  'secret.used',
  'webhook.created',
  'webhook.removed',
  'webhook.disabled',
  'checkpoint.issued',
  'checkpoint.anchored',
  'key.delegated',
  'signer.rotated',
  'server.started',
  'server.stopped',
  'access.denied',
] as const satisfies readonly AuditAction[];

export const auditEntityKinds = [
  'run',
  'item',
  'attempt',
  'artifact',
  'token',
  'schedule',
  'webhook',
  'checkpoint',
  'secret',
  'server',
  'key',
  'signer',
] as const satisfies readonly AuditEntityKind[];

const jsonObjectSchema = z.record(z.string(), z.json()) as unknown as z.ZodType<JsonObject>;

export const auditEntrySchema = z
  .strictObject({
    seq: countSchema,
    time: timestampSchema,
    actor: auditActorSchema,
    action: z.enum(auditActions, 'must be a known audit action'),
    entity: z.strictObject({ kind: z.enum(auditEntityKinds, 'must be a known entity kind'), id: z.string() }),
    outcome: z.enum(['success', 'failure', 'denied'], 'must be success, failure or denied'),
    runId: z.string().min(1).exactOptional(),
    runSeq: countSchema.exactOptional(),
    data: jsonObjectSchema,
  })
  .refine((entry) => (entry.runId === undefined) === (entry.runSeq === undefined), {
    error: 'runId and runSeq must be both present or both absent',
    path: ['runSeq'],
  });
true satisfies SchemaImplements<typeof auditEntrySchema, AuditEntry>;
