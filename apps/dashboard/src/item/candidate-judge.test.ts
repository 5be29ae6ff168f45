import { expect, test } from 'vitest';
import { judgeOf } from './candidate-judge.ts';

test("a judge's choice is read from the candidates when the server sends one, and is absent otherwise", () => {
  expect(judgeOf({ count: 3, winner: 2, judge: { attempt: 2, reason: 'the clearer change' } })).toEqual({
    attempt: 2,
    reason: 'the clearer change',
    refused: null,
  });
  expect(judgeOf({ judge: { chose: 3 } })).toEqual({ attempt: 3, reason: null, refused: null });
  expect(judgeOf({ judge: { refused: 'candidate 1 did not pass its check' } })).toEqual({
    attempt: null,
    reason: null,
    refused: 'candidate 1 did not pass its check',
  });
  expect(judgeOf({ count: 3, winner: 2 })).toBeNull();
  expect(judgeOf({ judge: 'yes' })).toBeNull();
  expect(judgeOf({ judge: [2] })).toBeNull();
  expect(judgeOf(null)).toBeNull();
});
