import { describe, expect, test } from 'vitest';
import { isRetryableKmsError, withKmsRetries } from './kms-retries.ts';

const kmsError = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

describe('KMS retries', () => {
  test.each([
    ['ThrottlingException', 400, true],
    ['KMSInternalException', 500, true],
    ['DependencyTimeoutException', 503, true],
    ['AccessDeniedException', 400, false],
    ['DisabledException', 400, false],
    ['NotFoundException', 400, false],
    ['InvalidCiphertextException', 400, false],
    ['LimitExceededException', 400, false],
  ])('%s (%i) is retried: %s', (name, status, retried) => {
    expect(isRetryableKmsError(kmsError(name, status))).toBe(retried);
  });

  test('socket failures are retried, anything without a shape is not', () => {
    expect(isRetryableKmsError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryableKmsError(Object.assign(new Error('timed out'), { name: 'TimeoutError', code: 'ETIMEDOUT' }))).toBe(true);
    expect(isRetryableKmsError(new Error('socket hang up'))).toBe(true);
    expect(isRetryableKmsError('ThrottlingException')).toBe(false);
    expect(isRetryableKmsError(null)).toBe(false);
  });

  test('waits with full jitter under a cap that doubles, and stops at maxAttempts with the last error', async () => {
    const delays: number[] = [];
    let calls = 0;
    const failure = await withKmsRetries(
      async () => {
        calls += 1;
        throw kmsError('ThrottlingException', 400);
      },
      { maxAttempts: 5, baseDelayMs: 4, maxDelayMs: 20, onRetry: ({ delayMs }) => delays.push(delayMs) },
    ).catch((error: unknown) => error);
    expect(calls).toBe(5);
    expect((failure as Error).name).toBe('ThrottlingException');
    expect(delays).toHaveLength(4);
    delays.forEach((delay, index) => {
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(Math.min(20, 4 * 2 ** (index + 1)));
    });
  });

  test('an error that is not retryable is thrown at once', async () => {
    let calls = 0;
    await expect(
      withKmsRetries(
        async () => {
          calls += 1;
          throw kmsError('AccessDeniedException', 400);
        },
        { maxAttempts: 5 },
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(calls).toBe(1);
  });
});
