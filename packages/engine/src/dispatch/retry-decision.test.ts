import { describe, expect, it } from 'vitest';
import { maxLostReruns, retryDecision, type RetryDecision, type RetryFacts } from './retry-decision.ts';

const facts = (fields: Partial<RetryFacts>): RetryFacts => ({ outcome: 'failed', attempt: 1, spec: {}, runCancelling: false, lostBefore: 0, ...fields });
const retries = { retry: { maxAttempts: 3 } };
const lostAfterReruns = `was lost after ${maxLostReruns} re-runs for lost attempts`;

// Each row: what the decision knows, and what becomes of the item.
const rows: [string, RetryFacts, RetryDecision][] = [
  ['a failed attempt of an item with no retry policy: fails', facts({}), { next: 'fail', reason: undefined }],
  ['a failed attempt with attempts left: retried after a backoff', facts({ spec: retries }), { next: 'retry', failures: 1, attemptsLeft: 2 }],
  [
    'a timed-out attempt with attempts left: retried as a failed one',
    facts({ outcome: 'timed-out', attempt: 2, spec: retries }),
    { next: 'retry', failures: 2, attemptsLeft: 1 },
  ],
  ['the last attempt failed: fails', facts({ attempt: 3, spec: retries }), { next: 'fail', reason: undefined }],
  ['a run being cancelled: fails, attempts left or not', facts({ spec: retries, runCancelling: true }), { next: 'fail', reason: undefined }],
  ['a lost attempt being cancelled: fails, not re-run', facts({ outcome: 'lost', runCancelling: true }), { next: 'fail', reason: undefined }],
  ['a lost attempt: re-run at once, without spending an attempt', facts({ outcome: 'lost' }), { next: 'rerun', lostRerunsLeft: maxLostReruns - 1 }],
  [
    'the last lost attempt re-run for free',
    facts({ outcome: 'lost', attempt: maxLostReruns, lostBefore: maxLostReruns - 1 }),
    { next: 'rerun', lostRerunsLeft: 0 },
  ],
  [
    'a lost attempt past the re-runs: counts as failed, and fails the item with no attempts left',
    facts({ outcome: 'lost', attempt: maxLostReruns + 1, lostBefore: maxLostReruns }),
    { next: 'fail', reason: `attempt ${maxLostReruns + 1} ${lostAfterReruns}` },
  ],
  [
    'a lost attempt past the re-runs, with attempts left: retried after a backoff',
    facts({ outcome: 'lost', attempt: maxLostReruns + 1, lostBefore: maxLostReruns, spec: retries }),
    { next: 'retry', failures: 1, attemptsLeft: 2 },
  ],
  [
    'lost attempts past the re-runs are counted once the re-runs are spent',
    facts({ outcome: 'lost', attempt: 7, lostBefore: 6, spec: retries }),
    { next: 'fail', reason: `attempt 7 ${lostAfterReruns}` },
  ],
  [
    'a failed attempt after lost ones re-run: only the failures count',
    facts({ attempt: 3, lostBefore: 2, spec: { retry: { maxAttempts: 2 } } }),
    { next: 'retry', failures: 1, attemptsLeft: 1 },
  ],
  [
    'a lost attempt of a write-impure item: fails, saying onLost fail is its default',
    facts({ outcome: 'lost', spec: { effect: 'write-impure' } }),
    {
      next: 'fail',
      reason: "attempt 1 was lost and the item's onLost is fail (the default for write-impure items: a lost attempt may have had external effects)",
    },
  ],
  [
    'a lost attempt under onLost fail: fails, saying so',
    facts({ outcome: 'lost', attempt: 2, spec: { onLost: 'fail', retry: { maxAttempts: 2 } } }),
    { next: 'fail', reason: "attempt 2 was lost and the item's onLost is fail" },
  ],
  [
    'a lost attempt under onLost fail with attempts left: retried as a failed one',
    facts({ outcome: 'lost', spec: { onLost: 'fail', retry: { maxAttempts: 2 } } }),
    { next: 'retry', failures: 1, attemptsLeft: 1 },
  ],
  [
    'under onLost fail, earlier lost attempts count against the retry budget',
    facts({ attempt: 2, lostBefore: 1, spec: { onLost: 'fail', retry: { maxAttempts: 2 } } }),
    { next: 'fail', reason: undefined },
  ],
  [
    'a write-impure item that opts into onLost retry: its lost attempt re-run',
    facts({ outcome: 'lost', spec: { effect: 'write-impure', onLost: 'retry' } }),
    { next: 'rerun', lostRerunsLeft: maxLostReruns - 1 },
  ],
];

describe('retryDecision: what becomes of an item whose attempt did not succeed', () => {
  it.each(rows)('%s', (_name, known, expected) => {
    expect(retryDecision(known)).toEqual(expected);
  });
});
