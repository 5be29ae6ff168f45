import { spentTokens } from '@cairn/audit';
import { dollars } from '@cairn/protocol/format';
import type { AuditEntry, BudgetSpec, ModelCallSpend } from '@cairn/core';
import { CairnError } from '@cairn/protocol';

/**
 * A run's budget now (ADR 0033): the last one an actor raised it to (its `run.budget-raised`
 * entries, read in order), else the one its spec set. The gateway and the raise itself read it so.
 */
export async function currentRunBudget(raises: AsyncIterable<AuditEntry>, specBudget: BudgetSpec | undefined): Promise<BudgetSpec | undefined> {
  let budget = specBudget;
  for await (const entry of raises) budget = entry.data['budget'] as BudgetSpec;
  return budget;
}

const raiseAction = "Give a budget above the run's spend (`cairn status <runId>` shows it), or cancel the run.";

/**
 * The budget a raise gives a run: its current one with the limits the actor named replaced (a
 * raise of dollars keeps the token limit). Each limit must leave the run something to spend, or
 * the raise is refused at its path (`budget.usd`), saying what the run has spent.
 */
export function raisedRunBudget(runId: string, current: BudgetSpec | undefined, given: BudgetSpec, spent: ModelCallSpend): BudgetSpec {
  const budget = { ...current, ...given };
  if (given.usd !== undefined && given.usd <= spent.costUsd)
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Run ${runId} has spent ${dollars(spent.costUsd)}: a budget of ${dollars(given.usd)} leaves it nothing to spend. Give more than ${dollars(spent.costUsd)}.`,
      { path: 'budget.usd', action: raiseAction },
    );
  const tokens = spentTokens(spent);
  if (given.tokens !== undefined && given.tokens <= tokens)
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Run ${runId} has used ${tokens} tokens: a budget of ${given.tokens} leaves it nothing to spend. Give more than ${tokens}.`,
      { path: 'budget.tokens', action: raiseAction },
    );
  return budget;
}
