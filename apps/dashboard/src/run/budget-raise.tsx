import type { BudgetSpec } from '@cairn/core';
import { useState } from 'preact/hooks';
import type { RunSummary } from '../api/run-summary.ts';
import { budgetText } from '@cairn/protocol/format';
import { spendText } from '../spend-text.ts';

/**
 * A run awaiting a budget raise (`awaiting-budget`, ADR 0033): what it spent of which budget, and,
 * for a session that may (`runs.budget`), a form to give it a new one. The limits typed replace the
 * run's; a reason is required, as it is kept in the `run.budget-raised` audit entry. A refusal (a
 * limit not above the spend) is shown where it happened.
 */
export function BudgetRaise({
  run,
  may,
  raise,
}: {
  readonly run: RunSummary;
  readonly may: boolean;
  readonly raise: (budget: BudgetSpec, reason: string) => Promise<void>;
}) {
  const [usd, setUsd] = useState('');
  const [tokens, setTokens] = useState('');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const budget: { usd?: number; tokens?: number } = {};
    if (usd.trim() !== '') budget.usd = Number(usd);
    if (tokens.trim() !== '') budget.tokens = Number(tokens);
    if (budget.usd === undefined && budget.tokens === undefined) return setProblem('Give dollars, tokens or both.');
    setBusy(true);
    setProblem(null);
    try {
      await raise(budget, reason.trim());
    } catch (failure) {
      setProblem(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="budget-wait" aria-label="Budget">
      <p>
        <strong>This run has spent its budget</strong>
        {run.budget ? ` of ${budgetText(run.budget)}` : ''}
        {run.spend ? ` (${spendText(run.spend.total)})` : ''}. It starts no agent items, and holds their model calls, until the budget is raised or the run is
        cancelled.
      </p>
      {may && (
        <form class="actions" onSubmit={(event) => void submit(event)}>
          <label>
            US dollars <input type="number" min="0" step="any" name="usd" value={usd} onInput={(event) => setUsd((event.target as HTMLInputElement).value)} />
          </label>
          <label>
            Tokens{' '}
            <input type="number" min="1" step="1" name="tokens" value={tokens} onInput={(event) => setTokens((event.target as HTMLInputElement).value)} />
          </label>
          <input
            type="text"
            aria-label="Reason (kept in the audit log)"
            placeholder="Reason (required)"
            required
            maxLength={2000}
            value={reason}
            onInput={(event) => setReason((event.target as HTMLInputElement).value)}
          />
          <button type="submit" class="primary" disabled={busy}>
            Raise the budget
          </button>
          {problem && (
            <p class="error" role="alert">
              {problem}
            </p>
          )}
        </form>
      )}
    </section>
  );
}
