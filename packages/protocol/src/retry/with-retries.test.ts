import { expect, test } from 'vitest';
import { withRetries } from './with-retries.ts';

const transient = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7480'), { code: 'ECONNREFUSED' });
const isRetryable = (error: unknown) => error === transient;

test('without a budget, maxAttempts bounds the retries', async () => {
  let attempts = 0;
  const failing = async () => {
    attempts++;
    throw transient;
  };
  await expect(withRetries(failing, { maxAttempts: 3, baseDelayMs: 1, isRetryable })).rejects.toBe(transient);
  expect(attempts).toBe(3);
});

test('with a budget, a transient failure is retried past maxAttempts until the service answers again', async () => {
  // The "outage" ends after the 12th attempt: far past maxAttempts, well within the budget.
  let attempts = 0;
  const result = await withRetries(
    async (attempt) => {
      attempts = attempt;
      if (attempt <= 12) throw transient;
      return 'answered';
    },
    { maxAttempts: 2, budgetMs: 60_000, baseDelayMs: 1, maxDelayMs: 2, isRetryable },
  );
  expect(result).toBe('answered');
  expect(attempts).toBe(13);
});

test('with a budget, an operation that never recovers is given up once the budget is spent', async () => {
  let attempts = 0;
  await expect(
    withRetries(
      async () => {
        attempts++;
        throw transient;
      },
      { maxAttempts: 2, budgetMs: 30, baseDelayMs: 1, maxDelayMs: 2, isRetryable },
    ),
  ).rejects.toBe(transient);
  expect(attempts).toBeGreaterThan(2);
});

test('with a budget, an error that is not transient is thrown at once', async () => {
  let attempts = 0;
  const refused = Object.assign(new Error('PreconditionFailed'), { $metadata: { httpStatusCode: 412 } });
  await expect(
    withRetries(
      async () => {
        attempts++;
        throw refused;
      },
      { maxAttempts: 5, budgetMs: 60_000, baseDelayMs: 1, isRetryable },
    ),
  ).rejects.toBe(refused);
  expect(attempts).toBe(1);
});
