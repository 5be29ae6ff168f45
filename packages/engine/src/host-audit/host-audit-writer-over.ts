import type { HostAuditRecord } from './host-audit-record.ts';
import type { HostAuditWriter } from './host-audit-writer.ts';

/**
 * A host audit writer that hands each record to `write` (the action set last, so
 * an argument cannot carry another): in process, the engine appends it; from
 * a replica, a command carries it to the engine. Either side checks it with `hostAuditDraft`.
 */
export function hostAuditWriterOver(write: (record: HostAuditRecord) => Promise<void>): HostAuditWriter {
  return {
    accessDenied: (denial) => write({ ...denial, action: 'access.denied' }),
    tokenCreated: (token) => write({ ...token, scopes: [...token.scopes], action: 'token.created' }),
    tokenRevoked: (token) => write({ ...token, action: 'token.revoked' }),
    webhookCreated: (webhook) => write({ ...webhook, events: webhook.events === 'all' ? 'all' : [...webhook.events], action: 'webhook.created' }),
    webhookRemoved: (webhook) => write({ ...webhook, action: 'webhook.removed' }),
    webhookDisabled: (webhook) => write({ ...webhook, action: 'webhook.disabled' }),
  };
}
