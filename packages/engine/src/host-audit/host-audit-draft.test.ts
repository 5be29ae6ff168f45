import { isCairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { hostAuditDraft } from './host-audit-draft.ts';
import { hostAuditActions } from './host-audit-record.ts';

const ana = { kind: 'user', id: 'ana', via: 'http' } as const;

/** The CairnError `hostAuditDraft` throws for `record`. */
function refusal(record: unknown) {
  try {
    hostAuditDraft(record);
  } catch (error) {
    expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
    return error as Error & { path: string };
  }
  return expect.unreachable('it was accepted');
}

test('an action the engine owns is refused, naming the actions a host may write', () => {
  // A record as a replica's command would carry it: whatever its shape, a run's action is not the host's.
  for (const action of ['run.submitted', 'item.approved', 'secret.set', 'checkpoint.issued', 'server.started']) {
    const error = refusal({ action, actor: ana, entity: { kind: 'run', id: 'r1' }, outcome: 'success', runId: 'r1', data: {} });
    expect(error.path).toBe('$.action');
    expect(error.message).toContain(hostAuditActions.join(', '));
  }
  expect(refusal({ actor: ana }).path).toBe('$.action');
  expect(refusal(null).message).toMatch(/^The host audit record is not valid/);
});

test('each host action builds its entry, and nothing else fits in', () => {
  expect(hostAuditDraft({ action: 'token.created', actor: ana, tokenId: 't1', name: 'ci', scopes: ['runs:read'] })).toEqual({
    actor: ana,
    action: 'token.created',
    entity: { kind: 'token', id: 'token:t1' },
    outcome: 'success',
    data: { name: 'ci', scopes: ['runs:read'] },
  });
  expect(hostAuditDraft({ action: 'webhook.created', actor: ana, webhookId: 'wh_1', origin: 'https://a.example', events: 'all' })).toEqual({
    actor: ana,
    action: 'webhook.created',
    entity: { kind: 'webhook', id: 'wh_1' },
    outcome: 'success',
    data: { origin: 'https://a.example', events: 'all' },
  });
  // The fields of an engine entry (a run id, an outcome, data) have no place in a host record.
  expect(refusal({ action: 'token.revoked', actor: ana, tokenId: 't1', name: 'ci', runId: 'r1' }).message).toContain('runId');
  expect(refusal({ action: 'token.revoked', actor: ana, tokenId: 't1', name: 'ci', outcome: 'denied' }).message).toContain('outcome');
  expect(refusal({ action: 'access.denied', actor: ana, entity: { kind: 'attempt', id: 'r1/a/1' }, requestedAction: 'runs.read', reason: 'x' }).path).toBe(
    '$.entity.kind',
  );
  expect(refusal({ action: 'token.created', actor: { id: 'ana' }, tokenId: 't1', name: 'ci', scopes: [] }).path).toMatch(/^\$\.actor/);
});
