import { describe, expect, test } from 'vitest';
import { rankCandidates, type CheckedCandidate } from './rank-candidates.ts';

const candidate = (fields: Partial<CheckedCandidate> & Pick<CheckedCandidate, 'candidate'>): CheckedCandidate => ({
  attempt: fields.candidate,
  passed: true,
  score: null,
  patchBytes: 100,
  seq: 10 + fields.candidate,
  ...fields,
});

const winners = (candidates: CheckedCandidate[], order: 'score' | 'smallest-diff' | 'first', stopOnFirstPass?: boolean) =>
  rankCandidates(candidates, { order, stopOnFirstPass }).map((ranked) => ranked.candidate);

describe('rankCandidates', () => {
  const round = [
    candidate({ candidate: 1, passed: false, patchBytes: 10, score: 99, seq: 11 }),
    candidate({ candidate: 2, patchBytes: 300, score: 0.5, seq: 14 }),
    candidate({ candidate: 3, patchBytes: 120, score: 0.9, seq: 12 }),
    candidate({ candidate: 4, patchBytes: 120, score: null, seq: 13 }),
  ];

  test.each([
    ['smallest-diff', undefined, [3, 4, 2]],
    ['score', undefined, [3, 2, 4]],
    ['first', undefined, [3, 4, 2]],
    ['smallest-diff', true, [3, 4, 2]],
    ['score', true, [3, 4, 2]],
  ] as const)('order %s (stopOnFirstPass %s) ranks only those that passed: %j', (order, stop, expected) => {
    expect(winners(round, order, stop)).toEqual(expected);
  });

  test('a failing candidate never wins, whatever its score or diff', () => {
    expect(winners([candidate({ candidate: 1, passed: false, patchBytes: 1, score: 100 })], 'score')).toEqual([]);
  });

  test('ties fall to the smaller diff, then the lower candidate', () => {
    const tied = [
      candidate({ candidate: 3, score: 1, patchBytes: 50 }),
      candidate({ candidate: 2, score: 1, patchBytes: 50 }),
      candidate({ candidate: 1, score: 1, patchBytes: 60 }),
    ];
    expect(winners(tied, 'score')).toEqual([2, 3, 1]);
    expect(winners(tied, 'smallest-diff')).toEqual([2, 3, 1]);
  });

  test('candidates without a score come after all that have one, a negative score included', () => {
    expect(winners([candidate({ candidate: 1, score: null, patchBytes: 1 }), candidate({ candidate: 2, score: -5 })], 'score')).toEqual([2, 1]);
  });
});
