import type { AuditEntry } from '@cairn/core';
import { sha256Digest } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { auditActionsOfEventTypes, eventOfEntry } from './event-of-entry.ts';

const entry = (action: AuditEntry['action'], data: AuditEntry['data']): AuditEntry => ({
  seq: 7,
  time: '2026-11-22T10:00:07.000Z',
  actor: { kind: 'system', id: 'gateway', via: 'http' },
  action,
  entity: { kind: 'attempt', id: 'exec-1' },
  outcome: 'success',
  runId: 'run-1',
  runSeq: 3,
  data,
});

test('a model call is no event: it changes no state, and no event stream reads its entries', () => {
  const called = entry('model.called', {
    api: 'anthropic-messages',
    attempt: 1,
    itemId: 'edit',
    latencyMs: 840,
    model: 'claude-sonnet-4-5',
    provider: 'anthropic',
    request: sha256Digest('{}'),
    status: 200,
    stream: false,
  });
  expect(eventOfEntry(called)).toBeUndefined();
  expect(auditActionsOfEventTypes(['run.state', 'item.state', 'attempt.state'])).not.toContain('model.called');
  // The same entry shape as an attempt's start is one.
  expect(eventOfEntry(entry('attempt.started', { attempt: 1, itemId: 'edit' }))).toMatchObject({ type: 'attempt.state', state: 'running' });
});
