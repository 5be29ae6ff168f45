import type { RunSpecV1 } from '@cairn/core';
import { useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { hrefOf } from '../use-route.ts';
import { runAgainSpec } from './run-again.ts';

/** **Run again**: submits the run's spec on the same workspace snapshot (`runAgainSpec`) and opens the new run. */
export function RunAgainButton({
  api,
  spec,
  fetched,
}: {
  readonly api: DashboardApi;
  readonly spec: RunSpecV1;
  readonly fetched: { readonly snapshot: string } | undefined;
}) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const submit = async () => {
    setBusy(true);
    setProblem(null);
    try {
      const { runId } = await api.post<{ runId: string }>('/v1/runs', runAgainSpec(spec, fetched));
      location.hash = hrefOf({ page: 'run', runId, itemId: null, evidence: false });
    } catch (failure) {
      setProblem(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="actions" role="group" aria-label="Run again">
      <button type="button" disabled={busy} onClick={() => void submit()} title="Submit the same spec on the same workspace snapshot, as a new run">
        Run again
      </button>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
    </div>
  );
}
