import { describe, expect, it } from 'vitest';
import { isRetryableS3Error, withS3Retries } from './s3-retries.ts';

const s3Error = (name: string, status: number | undefined) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

describe('isRetryableS3Error', () => {
  it.each([
    ['InternalError', 500],
    ['ServiceUnavailable', 503],
    ['SlowDown', 503],
    ['Throttling', 429],
    ['ConditionalRequestConflict', 409],
    ['TimeoutError', undefined],
  ])('retries %s (%s)', (name, status) => expect(isRetryableS3Error(s3Error(name, status))).toBe(true));

  it.each([
    ['AccessDenied', 403],
    ['NoSuchBucket', 404],
    ['PreconditionFailed', 412],
    ['InvalidArgument', 400],
  ])('does not retry %s (%s): S3 answered the request', (name, status) => expect(isRetryableS3Error(s3Error(name, status))).toBe(false));

  it('retries a reset connection', () => {
    expect(isRetryableS3Error(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryableS3Error(new Error('socket hang up'))).toBe(true);
    expect(isRetryableS3Error(new Error('something else'))).toBe(false);
  });
});

describe('withS3Retries', () => {
  it('tries again until the operation succeeds, within maxAttempts', async () => {
    const errors = [s3Error('SlowDown', 503), s3Error('InternalError', 500)];
    const retries: number[] = [];
    const result = await withS3Retries(
      async (attempt) => {
        const error = errors.shift();
        if (error) throw error;
        return attempt;
      },
      { maxAttempts: 3, baseDelayMs: 1, onRetry: ({ attempt }) => retries.push(attempt) },
    );
    expect(result).toBe(3);
    expect(retries).toEqual([1, 2]);
  });

  it('throws the last error once maxAttempts have failed', async () => {
    let attempts = 0;
    const last = s3Error('InternalError', 500);
    await expect(
      withS3Retries(
        async () => {
          attempts++;
          throw last;
        },
        { maxAttempts: 4, baseDelayMs: 1 },
      ),
    ).rejects.toBe(last);
    expect(attempts).toBe(4);
  });

  it('throws a refusal at once, without retrying it', async () => {
    let attempts = 0;
    await expect(
      withS3Retries(
        async () => {
          attempts++;
          throw s3Error('AccessDenied', 403);
        },
        { maxAttempts: 5, baseDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(attempts).toBe(1);
  });
});
