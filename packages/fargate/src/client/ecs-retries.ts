import { isTransientServiceError, withRetries, type RetryPolicy } from '@cairn/protocol';

/**
 * ECS error names that mean "try again": `ThrottlingException` is the API request-rate limit
 * (RunTask, DescribeTasks and StopTask share token buckets per account), `ServerException` is ECS
 * failing inside. A `ClientException` or `InvalidParameterException` is a refusal: repeating it gets
 * the same answer.
 */
const retryableNames = new Set(['ThrottlingException', 'ServerException', 'ServiceUnavailableException', 'InternalFailure']);

/** Whether an ECS failure is worth another attempt: anything transient for any service, or ECS's own throttling. */
export function isRetryableEcsError(error: unknown): boolean {
  return isTransientServiceError(error) || retryableNames.has((error as { name?: string } | null)?.name ?? '');
}

/**
 * Runs an ECS call with the shared backoff and full jitter, retrying what `isRetryableEcsError`
 * allows. ECS refills its API token buckets per second, so the waits grow up to 4 s.
 */
export function withEcsRetries<T>(operation: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  return withRetries(operation, { baseDelayMs: 100, maxDelayMs: 4_000, ...policy, isRetryable: isRetryableEcsError });
}
