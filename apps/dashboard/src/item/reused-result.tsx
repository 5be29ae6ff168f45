import { useEffect, useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { readAuditEntries } from '../api/read-audit-entries.ts';
import { hrefOf } from '../use-route.ts';

/** Where a reused result came from, as its `item.reused` entry names it. */
interface ReusedFrom {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
}

/** A run's `item.reused` entries read at most: a run reuses one result per pure item. */
const entriesRead = 1_000;

/**
 * A pure item that succeeded without running: the engine finished it with the result an earlier
 * attempt produced from equal inputs, and its `item.reused` audit entry names that attempt (the
 * items API does not). Read only for a succeeded pure item and a session that may read the audit
 * log; nothing is shown when no such entry exists (the item ran).
 */
export function ReusedResult({ api, runId, itemId }: { readonly api: DashboardApi; readonly runId: string; readonly itemId: string }) {
  const [from, setFrom] = useState<ReusedFrom | null>(null);
  useEffect(() => {
    let cancelled = false;
    void readAuditEntries(api, `/v1/audit?runId=${encodeURIComponent(runId)}&action=item.reused`, entriesRead)
      .then(({ entries }) => {
        const entry = entries.find((each) => each.entity.id === `${runId}/${itemId}`);
        const source = entry?.data['from'] as Partial<ReusedFrom> | undefined;
        if (!cancelled && typeof source?.runId === 'string' && typeof source.itemId === 'string' && typeof source.attempt === 'number')
          setFrom({ runId: source.runId, itemId: source.itemId, attempt: source.attempt });
      })
      // Without the entry the panel says what it says of any item; the rest of the page stands.
      .catch(() => {});
    return () => {
      cancelled = true;
    };
  }, [api, runId, itemId]);
  if (from === null) return null;
  return (
    <p class="reused-result" role="status">
      Reused, not run: the result of{' '}
      <a href={hrefOf({ page: 'run', runId: from.runId, itemId: from.itemId, evidence: false })}>
        {from.itemId} in {from.runId}
      </a>
      , attempt {from.attempt}, made from the same inputs (a <code>pure</code> item).
    </p>
  );
}
