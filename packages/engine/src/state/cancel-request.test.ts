import { expect, test } from 'vitest';
import { decodeCancelRequest, encodeCancelRequest } from './cancel-request.ts';

const actor = { kind: 'token', id: 'tok_1', via: 'http' } as const;

test('a cancel request keeps its reason through the database column', () => {
  expect(decodeCancelRequest(encodeCancelRequest({ actor, reason: 'superseded' }))).toEqual({ actor, reason: 'superseded' });
  expect(decodeCancelRequest(encodeCancelRequest({ actor }))).toEqual({ actor });
});

test('a column written before reasons were kept (the bare actor) still reads as a request', () => {
  expect(decodeCancelRequest(JSON.stringify(actor))).toEqual({ actor });
});
