import { isTransientServiceError, withRetries, type RetryPolicy } from '@cairn/protocol';

/** How a KMS call is retried (the shared policy of `@cairn/protocol`'s `withRetries`). */
export type KmsRetryPolicy = RetryPolicy;

/**
 * KMS error names that mean "try again": KMS was busy or failed inside, not a refusal.
 * `KMSInternalException` and `DependencyTimeoutException` are 5xx in the API reference;
 * `ThrottlingException` (400) is the request-rate quota, and `LimitExceededException` is not
 * retried: it is a resource quota that waiting does not lift.
 */
const retryableNames = new Set(['ThrottlingException', 'KMSInternalException', 'DependencyTimeoutException', 'ServiceUnavailableException', 'InternalFailure']);

/**
 * Whether a KMS failure is worth another attempt: anything transient for any service (5xx,
 * timeouts, resets) or KMS's own throttling and internal errors. An answer that refuses the
 * request (disabled key, access denied, bad ciphertext) is not: repeating it would get the same answer.
 */
export function isRetryableKmsError(error: unknown): boolean {
  return isTransientServiceError(error) || retryableNames.has((error as { name?: string } | null)?.name ?? '');
}

/** Runs a KMS call with the shared backoff and full jitter (waits capped at 2 s), retrying what `isRetryableKmsError` allows. */
export function withKmsRetries<T>(operation: (attempt: number) => Promise<T>, policy: KmsRetryPolicy): Promise<T> {
  return withRetries(operation, { maxDelayMs: 2_000, ...policy, isRetryable: isRetryableKmsError });
}
