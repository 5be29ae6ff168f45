// The gateway's budget refusals, as a person reads them: dollars spelled as everywhere else ($0.50,
// not $0.5), and tokens when the token limit is the one reached.
import { noModelCallSpend } from '@cairn/audit';
import type { ModelCallSpend } from '@cairn/core';
import { expect, test } from 'vitest';
import { crowdedOut, reached } from './budget-checks.ts';
import { raisedRunBudget } from './run-budget.ts';

const spent = (costUsd: number, inputTokens = 0): ModelCallSpend => ({ ...noModelCallSpend, calls: 1, succeeded: 1, costUsd, inputTokens });

test('a budget reached says what was spent of it, in dollars with two decimals (or more below a cent)', () => {
  expect(reached('run r1', { usd: 0.5 }, spent(0.5))).toBe('run r1 has spent $0.50 of its budget of $0.50');
  expect(reached('item a', { usd: 0.001 }, spent(0.0012))).toBe('item a has spent $0.0012 of its budget of $0.001');
  expect(reached('item a', { tokens: 100 }, spent(0, 120))).toBe('item a has used 120 tokens of its budget of 100');
  expect(reached('item a', { usd: 0.5, tokens: 100 }, spent(0.1, 50))).toBeUndefined();
});

test('a call crowded out by those in flight names their reservations and its own in the same dollars', () => {
  expect(crowdedOut('run r1', { usd: 1 }, spent(0.5), { calls: 2, tokens: 0, usd: 0.4 }, { tokens: 0, usd: 0.25 })).toBe(
    "run r1 has spent $0.50 of its budget of $1.00 and its 2 calls in flight reserved $0.40: this call's $0.25 do not fit beside them",
  );
  expect(crowdedOut('run r1', { usd: 1 }, spent(0.5), { calls: 1, tokens: 0, usd: 0.1 }, { tokens: 0, usd: 0.1 })).toBeUndefined();
});

test('a raise that leaves the run nothing is refused at budget.usd, in the same dollars', () => {
  expect(() => raisedRunBudget('r1', { usd: 0.5 }, { usd: 0.5 }, spent(0.5))).toThrow(
    expect.objectContaining({
      code: 'CAIRN_PAYLOAD_INVALID',
      path: 'budget.usd',
      message: 'Run r1 has spent $0.50: a budget of $0.50 leaves it nothing to spend. Give more than $0.50.',
    }),
  );
  expect(raisedRunBudget('r1', { usd: 0.5, tokens: 10 }, { usd: 2 }, spent(0.5))).toEqual({ usd: 2, tokens: 10 });
});
