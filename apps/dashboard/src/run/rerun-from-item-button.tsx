import type { RunSpecV1 } from '@cairn/core';
import { useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { hrefOf } from '../use-route.ts';
import { runAgainSpec } from './run-again.ts';
import type { RerunPlan } from './rerun-from-item.ts';

/**
 * **Re-run from here** on a failed item of a finished run: after a confirmation that says what
 * will happen — a new run of the same spec on the same snapshot, in which the pure items the
 * failed one waits on are reused (when their inputs are unchanged) and everything else, the failed
 * item first, runs again — submits it and opens it. Nothing of the finished run changes.
 */
export function RerunFromItemButton({
  api,
  itemId,
  spec,
  fetched,
  plan,
}: {
  readonly api: DashboardApi;
  readonly itemId: string;
  readonly spec: RunSpecV1;
  readonly fetched: { readonly snapshot: string } | undefined;
  readonly plan: RerunPlan;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const submit = async () => {
    setBusy(true);
    setProblem(null);
    try {
      const { runId } = await api.post<{ runId: string }>('/v1/runs', runAgainSpec(spec, fetched));
      location.hash = hrefOf({ page: 'run', runId, itemId, evidence: false });
    } catch (failure) {
      setProblem(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };
  const list = (ids: readonly string[]) =>
    ids.map((id) => <code key={id}>{id}</code>).reduce<unknown[]>((all, id) => (all.length === 0 ? [id] : [...all, ', ', id]), []);
  if (!asking)
    return (
      <div class="actions" role="group" aria-label={`Re-run from ${itemId}`}>
        <button type="button" onClick={() => setAsking(true)}>
          Re-run from here…
        </button>
      </div>
    );
  return (
    <div class="rerun-confirm" role="group" aria-label={`Re-run from ${itemId}`}>
      <p>
        This submits a <strong>new run</strong> of the same spec on the same workspace snapshot, and leaves this run as it is. <code>{itemId}</code> and
        everything after it run again.
      </p>
      {plan.reused.length > 0 && (
        <p class="rerun-reused">
          Reused, not run, when their inputs are unchanged (they are <code>pure</code> and succeeded here): {list(plan.reused)}.
        </p>
      )}
      {plan.rerun.length > 0 && (
        <p class="rerun-again">
          Run again before it (not <code>pure</code>, so their results are not reused, or they did not succeed): {list(plan.rerun)}.
        </p>
      )}
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={() => void submit()}>
          Submit the new run
        </button>
        <button type="button" disabled={busy} onClick={() => setAsking(false)}>
          Keep this run only
        </button>
      </div>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
    </div>
  );
}
