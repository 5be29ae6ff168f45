import type { BudgetSpec, ModelCallSpend } from '@cairn/core';
import { spentTokens } from '@cairn/audit';
import { dollars } from '@cairn/protocol/format';
import type { Reservation, Reserved } from './budget-reservations.ts';

// What a budget says of a call: whether its spend has reached it, and whether a call's reservation
// fits beside those of the calls in flight. Pure: the gateway decides what to do with the answer.

/** Why `mine` does not fit beside the budget's spend and the reservations of its calls in flight, or undefined when it does (or none is in flight). */
export function crowdedOut(what: string, budget: BudgetSpec | undefined, spent: ModelCallSpend, held: Reserved, mine: Reservation): string | undefined {
  if (budget === undefined || held.calls === 0) return undefined;
  const tokens = spentTokens(spent);
  const fitsTokens = budget.tokens === undefined || tokens + held.tokens + mine.tokens <= budget.tokens;
  const fitsUsd = budget.usd === undefined || spent.costUsd + held.usd + mine.usd <= budget.usd;
  if (fitsTokens && fitsUsd) return undefined;
  const of = fitsTokens ? `${dollars(spent.costUsd)} of its budget of ${dollars(budget.usd!)}` : `${tokens} tokens of its budget of ${budget.tokens}`;
  const reserved = fitsTokens ? dollars(held.usd) : `${held.tokens} tokens`;
  const asked = fitsTokens ? dollars(mine.usd) : `${mine.tokens} tokens`;
  return `${what} has spent ${of} and its ${held.calls} calls in flight reserved ${reserved}: this call's ${asked} do not fit beside them`;
}

export function reached(what: string, budget: BudgetSpec | undefined, spend: ModelCallSpend): string | undefined {
  if (budget === undefined) return undefined;
  if (budget.usd !== undefined && spend.costUsd >= budget.usd) return `${what} has spent ${dollars(spend.costUsd)} of its budget of ${dollars(budget.usd)}`;
  const tokens = spentTokens(spend);
  if (budget.tokens !== undefined && tokens >= budget.tokens) return `${what} has used ${tokens} tokens of its budget of ${budget.tokens}`;
  return undefined;
}
