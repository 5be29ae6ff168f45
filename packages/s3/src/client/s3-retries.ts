import { setTimeout as sleep } from 'node:timers/promises';

/** How an operation is retried: `maxAttempts` in all, waits growing from `baseDelayMs` up to `maxDelayMs`. */
export interface S3RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Called before each retry (logging, metrics); never with the request's body. */
  readonly onRetry?: (retry: { readonly attempt: number; readonly delayMs: number; readonly error: unknown }) => void;
}

/** S3 error names that mean "try again": the server was busy or lost the request, not that it was refused. */
const retryableNames = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  // Two conditional writes of one key raced on the server; AWS asks the loser to retry.
  'ConditionalRequestConflict',
]);

/** Socket-level failures: the request may or may not have reached S3, and every operation here is safe to repeat. */
const retryableSocketCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);

/**
 * Whether an S3 failure is worth another attempt: a 5xx, throttling (429, `SlowDown`), a timeout,
 * a reset or refused connection, or a conditional-write conflict (409 `ConditionalRequestConflict`).
 * A 4xx that answers the request (403, 404, 412) is not: repeating it would get the same answer.
 */
export function isRetryableS3Error(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, $metadata, $retryable, message } = error as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
    message?: string;
  };
  const status = $metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if ($retryable) return true;
  if (name !== undefined && retryableNames.has(name)) return true;
  if (code !== undefined && retryableSocketCodes.has(code)) return true;
  // A connection cut mid-response reaches the SDK as a plain error with Node's message.
  return typeof message === 'string' && /socket hang up|ECONNRESET|EPIPE|premature close|aborted/i.test(message);
}

/**
 * Runs `operation` until it succeeds, fails with an error that is not retryable, or has run
 * `maxAttempts` times; waits between attempts with exponential backoff and full jitter (a random
 * wait up to the growing cap), so many writers retrying at once spread out instead of colliding
 * again. The last error is thrown as it was: the caller maps it to a CairnError.
 */
export async function withS3Retries<T>(operation: (attempt: number) => Promise<T>, policy: S3RetryPolicy): Promise<T> {
  const baseDelayMs = policy.baseDelayMs ?? 50;
  const maxDelayMs = policy.maxDelayMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= policy.maxAttempts || !isRetryableS3Error(error)) throw error;
      const delayMs = Math.floor(Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt));
      policy.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}
