import type { ItemSpec } from '@cairn/core';

/**
 * Lost attempts (the executor no longer knows the task: its host died) an item is re-run after
 * without spending its retry budget. Bounded, so an item that kills its host every time it runs
 * cannot loop forever: past this, a lost attempt counts as a failed one.
 */
export const maxLostReruns = 3;

/** What the decision to retry an item whose attempt did not succeed (nor was cancelled) depends on. */
export interface RetryFacts {
  readonly outcome: 'failed' | 'timed-out' | 'lost';
  /** The attempt's number, counting from 1 (its fencing token). */
  readonly attempt: number;
  /** The item's retry policy, what it does with lost attempts, and its effect (which sets that default). */
  readonly spec: Pick<ItemSpec, 'retry' | 'onLost' | 'effect'>;
  /** Whether the item's run is being cancelled. */
  readonly runCancelling: boolean;
  /** How many of the item's earlier attempts were lost. */
  readonly lostBefore: number;
}

/** What becomes of an item whose attempt did not succeed. */
export type RetryDecision =
  /** The item fails; `reason` says why a lost attempt was not re-run, when it was one. */
  | { readonly next: 'fail'; readonly reason: string | undefined }
  /** A lost attempt re-run at once, without spending an attempt. */
  | { readonly next: 'rerun'; readonly lostRerunsLeft: number }
  /** Retried after a backoff for `failures` attempts that count against its `retry.maxAttempts`. */
  | { readonly next: 'retry'; readonly failures: number; readonly attemptsLeft: number };

/**
 * A failed, timed-out or lost attempt is retried while the item has attempts left and its run is
 * not being cancelled. A lost attempt is not the item's failure: under `onLost: retry` (the
 * default, except for write-impure items) it is re-run at once without spending an attempt, up to
 * `maxLostReruns` times; the attempts lost and re-run so are not counted against `retry`.
 */
export function retryDecision({ outcome, attempt, spec, runCancelling, lostBefore }: RetryFacts): RetryDecision {
  if (runCancelling) return { next: 'fail', reason: undefined };
  const maxAttempts = spec.retry?.maxAttempts ?? 1;
  const onLost = spec.onLost ?? (spec.effect === 'write-impure' ? 'fail' : 'retry');
  const rerunBefore = onLost === 'retry' ? Math.min(lostBefore, maxLostReruns) : 0;
  if (outcome === 'lost' && onLost === 'retry' && rerunBefore < maxLostReruns) return { next: 'rerun', lostRerunsLeft: maxLostReruns - rerunBefore - 1 };
  // Attempts that count against the item's retry budget: all but the lost ones re-run for free.
  const spent = attempt - rerunBefore;
  if (spent < maxAttempts) return { next: 'retry', failures: spent, attemptsLeft: maxAttempts - spent };
  if (outcome !== 'lost') return { next: 'fail', reason: undefined };
  return {
    next: 'fail',
    reason:
      onLost === 'fail'
        ? `attempt ${attempt} was lost and the item's onLost is fail${spec.onLost === undefined ? ' (the default for write-impure items: a lost attempt may have had external effects)' : ''}`
        : `attempt ${attempt} was lost after ${maxLostReruns} re-runs for lost attempts`,
  };
}
