import type { Actor, AuditActor } from '@cairn/core';
import { z } from 'zod';
import type { SchemaImplements } from './schema-implements.ts';

export const actorSchema = z.strictObject({
  kind: z.enum(['user', 'token', 'system'], 'must be user, token or system'),
  id: z.string().min(1, 'must not be empty'),
});
true satisfies SchemaImplements<typeof actorSchema, Actor>;

export const auditActorSchema = actorSchema.extend({
  via: z.enum(['http', 'cli', 'mcp', 'inbox', 'schedule', 'engine'], 'must be http, cli, mcp, inbox, schedule or engine'),
});
true satisfies SchemaImplements<typeof auditActorSchema, AuditActor>;
