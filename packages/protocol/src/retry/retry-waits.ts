import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * How long an operation waited for a service that was away (a storage outage waited out within
 * its budget), noted by `withRetries` for a policy with a `waitName`: how long from its first try
 * to its last, how many retries, and why (the first failure's words).
 */
export interface RetryWait {
  /** What was waited for: the policy's `waitName` (`storage`). */
  readonly waitedFor: string;
  readonly waitedMs: number;
  readonly retries: number;
  readonly reason: string;
}

/**
 * One store per process, however many copies of this module are loaded (a worker bundled with
 * its own, a storage package loaded beside it with another): the scope a caller opens with one copy
 * is the one `withRetries` of another notes into. Made on first use: nothing happens at import.
 */
const storeKey = Symbol.for('@cairn/protocol.retry-waits');
function waitsOfScope(): AsyncLocalStorage<RetryWait[]> {
  const global = globalThis as { [storeKey]?: AsyncLocalStorage<RetryWait[]> };
  return (global[storeKey] ??= new AsyncLocalStorage<RetryWait[]>());
}

/**
 * Runs `operation` with every wait `withRetries` notes in it, however deep (the async context
 * follows it), appended to `into`: so an attempt or an engine step that waited for storage can say
 * so in its history, while a process serving many of them at once keeps each one's apart.
 */
export function recordRetryWaits<T>(into: RetryWait[], operation: () => Promise<T>): Promise<T> {
  return waitsOfScope().run(into, operation);
}

/** Notes a wait in the caller's scope (see recordRetryWaits); nothing outside one. */
export function noteRetryWait(wait: RetryWait): void {
  waitsOfScope().getStore()?.push(wait);
}

/** The words a wait keeps of its failure: its name or code and message, on one line, 200 characters at most. */
export function retryWaitReason(error: unknown): string {
  const { name, code, message } = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
  };
  const label = typeof code === 'string' ? code : typeof name === 'string' && name !== 'Error' ? name : '';
  const text = typeof message === 'string' && message.length > 0 ? message : 'no message';
  const reason = `${label}${label ? ': ' : ''}${text}`.replace(/\s+/g, ' ').trim();
  return reason.length > 200 ? `${reason.slice(0, 199)}…` : reason;
}
