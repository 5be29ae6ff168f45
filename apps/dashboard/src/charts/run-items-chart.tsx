import type { AttemptView } from '../item/item-attempts.tsx';
import type { ItemSummary, RunSummary } from '../api/run-summary.ts';
import { durationText, useNow } from '../time-format.tsx';
import { SpendDurationChart, type TimedBar } from './spend-duration-chart.tsx';

/**
 * A run's items over the run's span (from its submit to its end, or now): each item that ran stands at its first dispatch (the time
 * axis is the time since the run was submitted), as tall as its time from that dispatch to its
 * last attempt's end (so a retried item's bar covers its retries) and as what its model calls
 * spent (the run's `spend.items`). Items that never ran are not drawn.
 */
export function RunItemsChart({
  run,
  itemIds,
  items,
  attempts,
}: {
  readonly run: RunSummary;
  readonly itemIds: readonly string[];
  readonly items: ReadonlyMap<string, ItemSummary>;
  readonly attempts: ReadonlyMap<string, readonly AttemptView[]>;
}) {
  const now = useNow(1_000);
  const submitted = Date.parse(run.submittedAt);
  const bars = itemIds.flatMap((itemId): TimedBar[] => {
    const ran = attempts.get(itemId) ?? [];
    if (ran.length === 0) return [];
    const start = Math.min(...ran.map((attempt) => Date.parse(attempt.dispatchedAt)));
    const live = ran.some((attempt) => attempt.finishedAt === null);
    const end = live ? now : Math.max(...ran.map((attempt) => Date.parse(attempt.finishedAt!)));
    return [
      {
        id: itemId,
        label: itemId,
        start,
        durationMs: Math.max(0, end - start),
        spendUsd: run.spend?.items[itemId]?.costUsd ?? null,
        state: items.get(itemId)?.state ?? ran.at(-1)!.state,
        live,
      },
    ];
  });
  return (
    <SpendDurationChart
      title={`Time and model spend of the run's ${bars.length} items that ran, by when each was first dispatched`}
      bars={bars}
      timeLabel={(time) => `+${durationText(time - submitted)}`}
      range={{ from: submitted, to: run.finishedAt === null ? now : Date.parse(run.finishedAt) }}
    />
  );
}
