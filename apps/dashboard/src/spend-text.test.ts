import { expect, test } from 'vitest';
import { dollars } from './spend-text.ts';

test('dollars: two decimals from a dollar up; below, three significant digits and never fewer than two decimals', () => {
  expect([0, 0.5, 0.1, 0.05, 0.123, 0.1234, 0.000412, 0.9999, 1, 2.5, 12.345].map(dollars)).toEqual([
    '$0.00',
    '$0.50',
    '$0.10',
    '$0.05',
    '$0.123',
    '$0.123',
    '$0.000412',
    '$1.00',
    '$1.00',
    '$2.50',
    '$12.35',
  ]);
});
