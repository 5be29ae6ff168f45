import type { BudgetSpec } from '@cairn/core';
import { dollars } from './dollars.ts';

/**
 * A budget in a few words, as `cairn budget` and the dashboard's run page say it: `$2.00 and
 * 50000 tokens`, or only the limit it sets.
 */
export function budgetText(budget: BudgetSpec): string {
  return [budget.usd === undefined ? [] : [dollars(budget.usd)], budget.tokens === undefined ? [] : [`${budget.tokens} tokens`]].flat().join(' and ');
}
