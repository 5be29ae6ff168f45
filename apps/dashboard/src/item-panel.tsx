import type { ItemSpec } from '@cairn/core';
import type { DashboardApi } from './dashboard-api.ts';
import type { ItemSummary } from './run-summary.ts';
import { StateBadge } from './state-badge.tsx';

/** One item of a run: its state and, when it failed, why. */
export function ItemPanel({
  itemId,
  item,
}: {
  readonly api: DashboardApi;
  readonly runId: string;
  readonly itemId: string;
  readonly item: ItemSummary | null;
  readonly spec: ItemSpec | null;
  readonly onError: (failure: unknown) => void;
}) {
  return (
    <section class="item-panel" aria-label={`Item ${itemId}`}>
      <h2>
        {itemId} {item && <StateBadge state={item.state} />}
      </h2>
      {item?.failure && (
        <div class="failure" role="note">
          <h3>Why it failed</h3>
          <p>
            <code>{item.failure.code}</code> {item.failure.message}
          </p>
          {item.failure.stderrTail !== '' && <pre class="stderr">{item.failure.stderrTail}</pre>}
        </div>
      )}
    </section>
  );
}
