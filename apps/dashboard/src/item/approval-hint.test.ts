import { expect, test } from 'vitest';
import { approvalHint } from './approval-hint.ts';

test.each([
  ['blocked', null, 'needs approval'],
  ['awaiting-approval', null, 'needs approval'],
  ['running', null, 'approved'],
  ['succeeded', null, 'approved'],
  ['failed', { code: 'CAIRN_EXIT_NONZERO' }, 'approved'],
  ['failed', { code: 'CAIRN_APPROVAL_REJECTED' }, 'rejected'],
  ['cancelled', null, 'approval not decided'],
  ['skipped', null, 'approval not decided'],
] as const)('an approval-gated item %s (failure %j): %s', (state, failure, hint) => {
  expect(approvalHint({ state, approvalRequired: true, failure } as Parameters<typeof approvalHint>[0])).toBe(hint);
});

test('an item without a gate has no approval hint', () => {
  expect(approvalHint({ state: 'succeeded', approvalRequired: false, failure: null })).toBeNull();
});
