import type { AttemptFailure } from '@cairn/core';
import { expect, test } from 'vitest';
import { earlierFailureLines, rerunMerges } from './earlier-failure-lines.ts';

const conflict: AttemptFailure = {
  code: 'CAIRN_MERGE_CONFLICT',
  message:
    'The patch of item "beta" (runtime.from[1]) conflicts with what was merged before it ("alpha") at path: NOTES.md. Nothing was merged.\n--- NOTES.md\n<<<<<<< merged so far',
  exitCode: null,
  signal: null,
  stderrTail: '',
  mergeConflict: { from: 'beta', position: 1, merged: ['alpha'] },
};

test("a merge is known by the item it re-ran, <merge>/<producer>; a planner's items are not re-runs", () => {
  const items = [
    { itemId: 'alpha', state: 'succeeded' },
    { itemId: 'beta', state: 'succeeded' },
    { itemId: 'combine', state: 'succeeded' },
    { itemId: 'combine/beta', state: 'succeeded' },
    { itemId: 'plan', state: 'succeeded' },
    { itemId: 'plan/fix-auth', state: 'succeeded' },
  ] as const;
  expect(rerunMerges(items).map((item) => item.itemId)).toEqual(['combine']);
  expect(rerunMerges(items.slice(0, 3))).toEqual([]);
});

test("a merge that succeeded after its conflict shows the conflict's first line, and what was re-run for it", () => {
  const lines = earlierFailureLines({ itemId: 'combine', state: 'succeeded' }, [
    { attempt: 1, state: 'failed', failure: conflict },
    { attempt: 2, state: 'succeeded', failure: null },
  ]);
  expect(lines).toEqual([
    'combine attempt 1 failed: CAIRN_MERGE_CONFLICT The patch of item "beta" (runtime.from[1]) conflicts with what was merged before it ("alpha") at path: NOTES.md. Nothing was merged. (re-ran beta as combine/beta)',
  ]);
  // Blocked on its re-run, it says so too; failed now, its failure is failureLines's to show.
  expect(earlierFailureLines({ itemId: 'combine', state: 'blocked' }, [{ attempt: 1, state: 'failed', failure: conflict }])).toHaveLength(1);
  expect(earlierFailureLines({ itemId: 'combine', state: 'failed' }, [{ attempt: 1, state: 'failed', failure: conflict }])).toEqual([]);
});
