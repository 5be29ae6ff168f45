import { setTimeout as sleep } from 'node:timers/promises';

/** How a KMS call is retried: `maxAttempts` in all, waits growing from `baseDelayMs` up to `maxDelayMs`. */
export interface KmsRetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Called before each retry (logging, metrics); never with a request's plaintext. */
  readonly onRetry?: (retry: { readonly attempt: number; readonly delayMs: number; readonly error: unknown }) => void;
}

/**
 * KMS error names that mean "try again": KMS was busy or failed inside, not a refusal.
 * `KMSInternalException` and `DependencyTimeoutException` are 5xx in the API reference;
 * `ThrottlingException` (400) is the request-rate quota, and `LimitExceededException` is not
 * retried: it is a resource quota that waiting does not lift.
 */
const retryableNames = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'ServiceUnavailableException',
  'InternalFailure',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

/** Socket-level failures: the request may or may not have reached KMS, and every call here is safe to repeat. */
const retryableSocketCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/**
 * Whether a KMS failure is worth another attempt: throttling, a 5xx, a timeout, a reset or
 * refused connection. An answer that refuses the request (disabled key, access denied, bad
 * ciphertext) is not: repeating it would get the same answer.
 */
export function isRetryableKmsError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, $metadata, message } = error as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    message?: string;
  };
  const status = $metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (name !== undefined && retryableNames.has(name)) return true;
  if (code !== undefined && retryableSocketCodes.has(code)) return true;
  // A connection cut mid-response reaches the SDK as a plain error with Node's message.
  return typeof message === 'string' && /socket hang up|ECONNRESET|EPIPE|premature close/i.test(message);
}

/**
 * Runs `operation` until it succeeds, fails with an error that is not retryable, or has run
 * `maxAttempts` times; waits between attempts with exponential backoff and full jitter (a random
 * wait up to the growing cap), so many servers throttled at once spread out instead of colliding
 * again. The last error is thrown as it was: the caller maps it to a CairnError.
 *
 * The same policy as `withS3Retries` in `@cairn/s3` with KMS's retryable errors: kept in this one
 * file so the two can move to one shared place.
 */
export async function withKmsRetries<T>(operation: (attempt: number) => Promise<T>, policy: KmsRetryPolicy): Promise<T> {
  const baseDelayMs = policy.baseDelayMs ?? 50;
  const maxDelayMs = policy.maxDelayMs ?? 2_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= policy.maxAttempts || !isRetryableKmsError(error)) throw error;
      const delayMs = Math.floor(Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt));
      policy.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}
