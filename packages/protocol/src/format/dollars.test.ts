import { expect, test } from 'vitest';
import { budgetText } from './budget-text.ts';
import { dollars } from './dollars.ts';

test('two decimals from a dollar up; below, three significant digits and never fewer than two decimals', () => {
  expect([0, 0.5, 0.1, 0.05, 0.123, 0.1234, 0.000412, 0.0000004, 0.9999, 1, 2.5, 12.345, 1234.5].map(dollars)).toEqual([
    '$0.00',
    '$0.50',
    '$0.10',
    '$0.05',
    '$0.123',
    '$0.123',
    '$0.000412',
    '$0.0000004',
    '$1.00',
    '$1.00',
    '$2.50',
    '$12.35',
    '$1234.50',
  ]);
});

test('a sum of floats reads as the amount it stands for, and a negative amount keeps its sign before the dollar', () => {
  expect(dollars(0.1 + 0.2)).toBe('$0.30');
  expect(dollars(-0.5)).toBe('-$0.50');
});

test('a budget names its limits with the same dollars', () => {
  expect([{ usd: 0.5 }, { tokens: 5000 }, { usd: 2, tokens: 50_000 }].map(budgetText)).toEqual(['$0.50', '5000 tokens', '$2.00 and 50000 tokens']);
});
