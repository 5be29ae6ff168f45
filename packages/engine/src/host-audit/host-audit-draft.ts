import { parsePayload } from '@cairn/protocol';
import type { AuditEntryDraft } from '../audit/audit-log.ts';
import { hostAuditRecordSchema } from './host-audit-record.ts';

/**
 * The audit entry of what a host audits, checked first: a record of another action (a run's, an
 * item's, anything the engine writes itself) or a malformed one throws CAIRN_PAYLOAD_INVALID
 * naming the field, and nothing is written.
 */
export function hostAuditDraft(record: unknown): AuditEntryDraft {
  const checked = parsePayload(hostAuditRecordSchema, record, 'The host audit record');
  const { actor } = checked;
  switch (checked.action) {
    case 'access.denied':
      return { actor, action: 'access.denied', entity: checked.entity, outcome: 'denied', data: { action: checked.requestedAction, reason: checked.reason } };
    case 'token.created':
      return {
        actor,
        action: 'token.created',
        entity: { kind: 'token', id: `token:${checked.tokenId}` },
        outcome: 'success',
        data: { name: checked.name, scopes: checked.scopes },
      };
    case 'token.revoked':
      return { actor, action: 'token.revoked', entity: { kind: 'token', id: `token:${checked.tokenId}` }, outcome: 'success', data: { name: checked.name } };
    case 'webhook.created':
      return {
        actor,
        action: 'webhook.created',
        entity: { kind: 'webhook', id: checked.webhookId },
        outcome: 'success',
        data: { origin: checked.origin, events: checked.events, ...(checked.runId === undefined ? {} : { runId: checked.runId }) },
      };
    case 'webhook.removed':
      return { actor, action: 'webhook.removed', entity: { kind: 'webhook', id: checked.webhookId }, outcome: 'success', data: { origin: checked.origin } };
    case 'webhook.disabled':
      return { actor, action: 'webhook.disabled', entity: { kind: 'webhook', id: checked.webhookId }, outcome: 'success', data: { reason: checked.reason } };
  }
}
