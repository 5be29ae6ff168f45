import { isTransientServiceError, withRetries, type RetryPolicy } from '@cairn/protocol';

/** How an S3 operation is retried (the shared policy of `@cairn/protocol`'s `withRetries`). */
export type S3RetryPolicy = RetryPolicy;

/** S3 error names that mean "try again": the server was busy or lost the request, not that it was refused. */
const retryableNames = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  // Two conditional writes of one key raced on the server; AWS asks the loser to retry.
  'ConditionalRequestConflict',
]);

/**
 * Whether an S3 failure is worth another attempt: anything transient for any service (5xx, 429,
 * timeouts, resets), throttling (`SlowDown`), or a conditional-write conflict (409
 * `ConditionalRequestConflict`). A 4xx that answers the request (403, 404, 412) is not:
 * repeating it would get the same answer.
 */
export function isRetryableS3Error(error: unknown): boolean {
  return isTransientServiceError(error) || retryableNames.has((error as { name?: string } | null)?.name ?? '');
}

/**
 * The policy a seam's settings give: `maxAttempts` attempts and, with `outageBudgetMs` (storage),
 * retries past them for as long as that from the first attempt, so a shorter outage is waited out.
 */
export function s3RetryPolicy(settings: { readonly maxAttempts: number; readonly outageBudgetMs?: number }): S3RetryPolicy {
  // Storage's retries are waits an item's history names (see RetryWait in @cairn/protocol).
  return { maxAttempts: settings.maxAttempts, waitName: 'storage', ...(settings.outageBudgetMs === undefined ? {} : { budgetMs: settings.outageBudgetMs }) };
}

/** Runs an S3 operation with the shared backoff and full jitter, retrying what `isRetryableS3Error` allows. */
export function withS3Retries<T>(operation: (attempt: number) => Promise<T>, policy: S3RetryPolicy): Promise<T> {
  return withRetries(operation, { ...policy, isRetryable: isRetryableS3Error });
}
