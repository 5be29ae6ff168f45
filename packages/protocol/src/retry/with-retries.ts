import { setTimeout as sleep } from 'node:timers/promises';
import { noteRetryWait, retryWaitReason } from './retry-waits.ts';

/**
 * How an operation is retried: `maxAttempts` in all, waits growing from `baseDelayMs` up to
 * `maxDelayMs`; with `budgetMs`, for as long as that after the first attempt started too.
 */
export interface RetryPolicy {
  readonly maxAttempts: number;
  /**
   * How long an operation that keeps failing transiently is retried, from the start of its first
   * attempt, even past `maxAttempts`: a service that is down for a while (a restart, a failover)
   * is waited for rather than reported. Unset or 0: `maxAttempts` alone bounds the retries.
   */
  readonly budgetMs?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /**
   * What an operation that was retried waited for (`storage`): when set, each such operation notes
   * its wait (how long, how many retries, why) for the caller's history (see recordRetryWaits).
   */
  readonly waitName?: string;
  /** Called before each retry (logging, metrics); never with a request's body or plaintext. */
  readonly onRetry?: (retry: { readonly attempt: number; readonly delayMs: number; readonly error: unknown }) => void;
}

/** Socket-level failures: the request may or may not have reached the service; the callers' operations are safe to repeat. */
const transientSocketCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);

/**
 * Whether a failed call to a cloud service (an AWS SDK v3 error, a socket error) is transient
 * whatever the service: a 5xx, a 429, an error the SDK marks retryable, a timeout, a reset or
 * refused connection. Each service adds the error names of its own that mean "try again".
 */
export function isTransientServiceError(error: unknown): boolean {
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
  if (name === 'TimeoutError' || name === 'RequestTimeout' || name === 'RequestTimeoutException') return true;
  if (code !== undefined && transientSocketCodes.has(code)) return true;
  // A connection cut mid-response reaches the SDK as a plain error with Node's message.
  return typeof message === 'string' && /socket hang up|ECONNRESET|EPIPE|premature close|aborted/i.test(message);
}

/**
 * Runs `operation` until it succeeds, fails with an error `isRetryable` refuses, or has run
 * `maxAttempts` times and (with `budgetMs`) `budgetMs` have passed since it started; waits between
 * attempts with capped exponential backoff and full jitter (a random wait up to the growing cap),
 * so many callers retrying at once spread out instead of colliding again, and never waits past
 * the budget. The last error is thrown as it was: the caller maps it to a CairnError.
 */
export async function withRetries<T>(
  operation: (attempt: number) => Promise<T>,
  policy: RetryPolicy & { readonly isRetryable: (error: unknown) => boolean },
): Promise<T> {
  const baseDelayMs = policy.baseDelayMs ?? 50;
  const maxDelayMs = policy.maxDelayMs ?? 5_000;
  const started = performance.now();
  const deadline = started + (policy.budgetMs ?? 0);
  let firstError: unknown;
  // A retried operation's wait, noted once it ended either way: the history says what it waited for.
  const noteWait = (attempt: number) => {
    if (policy.waitName === undefined || attempt === 1) return;
    noteRetryWait({ waitedFor: policy.waitName, waitedMs: Math.round(performance.now() - started), retries: attempt - 1, reason: retryWaitReason(firstError) });
  };
  for (let attempt = 1; ; attempt++) {
    try {
      const value = await operation(attempt);
      noteWait(attempt);
      return value;
    } catch (error) {
      if (attempt === 1) firstError = error;
      const left = deadline - performance.now();
      if ((attempt >= policy.maxAttempts && left <= 0) || !policy.isRetryable(error)) {
        noteWait(attempt);
        throw error;
      }
      // 2 ** attempt grows past any cap within a few dozen attempts; past ~1000 it would be Infinity.
      const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt, 30));
      const jittered = Math.floor(Math.random() * cap);
      const delayMs = attempt >= policy.maxAttempts ? Math.max(0, Math.min(jittered, Math.ceil(left))) : jittered;
      policy.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}
