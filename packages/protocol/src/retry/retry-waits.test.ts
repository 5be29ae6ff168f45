import { expect, test } from 'vitest';
import { recordRetryWaits } from './retry-waits.ts';
import { withRetries } from './with-retries.ts';

const transient = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7480'), { code: 'ECONNREFUSED' });
const isRetryable = (error: unknown) => error === transient;

/** An operation that fails `failures` times, then answers. */
const recovering = (failures: number) => async (attempt: number) => {
  if (attempt <= failures) throw transient;
  return 'answered';
};

test('a retried operation notes its wait in the scope it ran in: what for, how long, how many retries, why', async () => {
  const waits: Parameters<typeof recordRetryWaits>[0] = [];
  const policy = { maxAttempts: 2, budgetMs: 60_000, baseDelayMs: 5, maxDelayMs: 10, waitName: 'storage', isRetryable };
  const value = await recordRetryWaits(waits, async () => {
    await withRetries(async () => 'at once', policy);
    return withRetries(recovering(4), policy);
  });
  expect(value).toBe('answered');
  // The first operation did not wait: nothing noted for it.
  expect(waits).toEqual([{ waitedFor: 'storage', waitedMs: expect.any(Number), retries: 4, reason: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:7480' }]);
  expect(waits[0]!.waitedMs).toBeGreaterThanOrEqual(0);
  expect(waits[0]!.waitedMs).toBeLessThan(5_000);
});

test('one that gave up notes its wait too; scopes running at once keep their own; outside a scope, or without waitName, nothing is noted', async () => {
  const first: Parameters<typeof recordRetryWaits>[0] = [];
  const second: Parameters<typeof recordRetryWaits>[0] = [];
  const policy = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2, waitName: 'storage', isRetryable };
  await Promise.all([
    recordRetryWaits(first, () => expect(withRetries(recovering(10), policy)).rejects.toBe(transient)),
    recordRetryWaits(second, () => withRetries(recovering(1), policy)),
    withRetries(recovering(1), policy),
  ]);
  expect(first.map((wait) => wait.retries)).toEqual([2]);
  expect(second.map((wait) => wait.retries)).toEqual([1]);
  const unnamed: Parameters<typeof recordRetryWaits>[0] = [];
  await recordRetryWaits(unnamed, () => withRetries(recovering(1), { maxAttempts: 3, baseDelayMs: 1, isRetryable }));
  expect(unnamed).toEqual([]);
});
