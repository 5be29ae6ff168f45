import { describe, expect, test } from 'vitest';
import { readJudgeAnswer, maxJudgeReason } from './judge-answer.ts';
import { rankCandidates, type CheckedCandidate } from './rank-candidates.ts';

const candidate = (place: number, passed: boolean, patchBytes: number): CheckedCandidate => ({
  attempt: 4 + place,
  candidate: place,
  passed,
  score: null,
  patchBytes,
  seq: 20 + place,
});
// Round 2 of three: candidate 1 failed its check, 2 and 3 passed, 3 with the smaller diff.
const round = [candidate(1, false, 10), candidate(2, true, 300), candidate(3, true, 120)];

describe('readJudgeAnswer', () => {
  test('takes the last output line: the chosen candidate of those that passed, and why', () => {
    const output = 'Reading both patches…\n{"candidate": 1, "reason": "draft"}\n{"candidate": 2, "reason": "  handles the empty input too  "}\n\n';
    expect(readJudgeAnswer(output, round)).toEqual({ chosen: round[1], reason: 'handles the empty input too' });
  });

  test('takes the last line that opens a JSON object, past the lines a runtime writes after its model', () => {
    const output = '{"candidate": 3, "reason": "smaller"}\nI pick 3.\n[openai-compatible] finished after 2 turns\n';
    expect(readJudgeAnswer(output, round)).toEqual({ chosen: round[2], reason: 'smaller' });
  });

  test.each([
    ['no output', '', 'the judge printed nothing'],
    ['a last line that is not JSON', 'I pick 2.', 'is not JSON'],
    ['a last object line that is not JSON', '{"candidate": 2, "reason": "x"\n[runtime] finished', 'is not JSON'],
    ['a JSON array', '[2]', 'is not a JSON object'],
    ['a candidate that is no whole number', '{"candidate": "2", "reason": "x"}', '"candidate" is not a whole number'],
    ['a choice without a reason', '{"candidate": 2}', 'has no "reason"'],
    ['an unknown candidate', '{"candidate": 7, "reason": "best"}', 'chose candidate 7, which the round of 3 does not have'],
    [
      'a candidate the check failed',
      '{"candidate": 1, "reason": "smallest"}',
      'chose candidate 1, which did not pass its check: a judge may only choose among the candidates the check passed (2, 3)',
    ],
  ])('refuses %s, saying what was wrong and quoting the line', (_name, output, why) => {
    const answer = readJudgeAnswer(output, round);
    expect('refused' in answer && answer.refused).toContain(why);
    expect('refused' in answer && answer.answer).toBe(output.split('\n').findLast((line) => line.startsWith('{')) ?? output.split('\n').at(-1));
  });

  test('cuts a long reason, and quotes at most 200 characters of a refused line', () => {
    const long = readJudgeAnswer(JSON.stringify({ candidate: 3, reason: 'r'.repeat(5_000) }), round);
    expect('reason' in long && long.reason).toHaveLength(maxJudgeReason + 1);
    const refused = readJudgeAnswer('x'.repeat(5_000), round);
    expect('answer' in refused && refused.answer).toHaveLength(201);
  });
});

describe('rankCandidates with a judge', () => {
  const winner = (judge: number | undefined) => rankCandidates(round, { order: 'smallest-diff', judge }).map((each) => each.candidate);

  test('the judge’s choice of a passing candidate goes first, even when the order would pick another', () => {
    expect(winner(undefined)).toEqual([3, 2]);
    expect(winner(6)).toEqual([2, 3]);
  });

  test('a choice of a failing or unknown attempt changes nothing: the order decides', () => {
    expect(winner(5)).toEqual([3, 2]);
    expect(winner(99)).toEqual([3, 2]);
  });
});
