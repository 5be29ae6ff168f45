import { readyFor, spansOf, type AttemptView, type Span } from '../item/item-attempts.tsx';
import type { ItemSummary } from '../api/run-summary.ts';
import { durationText, useNow } from '../time-format.tsx';
import { hrefOf } from '../use-route.ts';

/** One bar of the timeline: a span of an attempt (or of an item still waiting), where it starts and ends (ms). */
interface Bar {
  readonly kind: Span['kind'];
  readonly attempt: number | null;
  /** The attempt's state, for a run span: its colour. */
  readonly state: string | null;
  readonly from: number;
  readonly to: number;
  readonly label: string;
}

/** Ticks on the time axis: about this many, at a round step. */
const tickCount = 6;
const tickSteps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 14_400, 43_200, 86_400].map((seconds) => seconds * 1_000);

/**
 * The run over time (a Gantt chart): a row per item, its attempts as bars from dispatch to end
 * coloured by how each ended, and before each the waits the API records — in the queue from when
 * the item became ready (`readyAt`, for its latest attempt only) and for a global lock
 * (`lockWait` of the attempt) — shaded; an item still waiting is drawn up to now. The API does not
 * say when a dispatched attempt began to run in its sandbox: a run bar starts at its dispatch.
 */
export function RunTimeline({
  runId,
  itemIds,
  items,
  attempts,
}: {
  readonly runId: string;
  readonly itemIds: readonly string[];
  readonly items: ReadonlyMap<string, ItemSummary>;
  readonly attempts: ReadonlyMap<string, readonly AttemptView[]>;
}) {
  const now = useNow(1_000);
  const rows = itemIds.map((itemId) => ({ itemId, item: items.get(itemId), bars: barsOf(items.get(itemId), attempts.get(itemId) ?? [], now) }));
  const all = rows.flatMap((row) => row.bars);
  if (all.length === 0) return <p class="empty">No item has been ready or run yet: the timeline starts with the first.</p>;
  const start = Math.min(...all.map((bar) => bar.from));
  const end = Math.max(start + 1_000, ...all.map((bar) => bar.to));
  const length = end - start;
  const step = tickSteps.find((candidate) => length / candidate <= tickCount) ?? tickSteps.at(-1)!;
  const ticks = Array.from({ length: Math.floor(length / step) + 1 }, (_, index) => index * step);
  const at = (time: number) => `${(((time - start) / length) * 100).toFixed(3)}%`;
  const width = (bar: Bar) => `${Math.max(((bar.to - bar.from) / length) * 100, 0.25).toFixed(3)}%`;
  // Rows in the order they began; those that never did at the bottom, in the spec's order.
  const began = (row: (typeof rows)[number]) => (row.bars.length === 0 ? Infinity : Math.min(...row.bars.map((bar) => bar.from)));
  const ordered = rows.toSorted((a, b) => began(a) - began(b));
  return (
    <section class="timeline" aria-label="Timeline">
      <ul class="timeline-legend" aria-label="Legend">
        <li>
          <span class="swatch bar-run state-succeeded" /> ran: succeeded
        </li>
        <li>
          <span class="swatch bar-run state-failed" /> failed
        </li>
        <li>
          <span class="swatch bar-run state-running" /> running
        </li>
        <li>
          <span class="swatch bar-queue" /> waiting in the queue
        </li>
        <li>
          <span class="swatch bar-lock" /> waiting for a lock
        </li>
      </ul>
      <div class="timeline-grid" role="table" aria-label="Items over time">
        <div class="timeline-row timeline-axis" role="row">
          <span class="timeline-label" role="columnheader">
            item
          </span>
          <span class="timeline-track" role="columnheader">
            {ticks.map((tick) => (
              <span key={tick} class="tick" style={{ left: at(start + tick) }}>
                {tick === 0 ? '0' : durationText(tick)}
              </span>
            ))}
          </span>
        </div>
        {ordered.map(({ itemId, item, bars }) => (
          <div key={itemId} class="timeline-row" role="row" data-item-id={itemId}>
            <span class="timeline-label" role="rowheader">
              <a href={hrefOf({ page: 'run', runId, itemId, evidence: false })}>{itemId}</a>
              {bars.length === 0 && <span class="hint"> {item?.state ?? 'blocked'}</span>}
            </span>
            <span class="timeline-track" role="cell">
              {ticks.map((tick) => (
                <span key={tick} class="gridline" style={{ left: at(start + tick) }} />
              ))}
              {bars.map((bar) => (
                <span
                  key={`${bar.attempt ?? 'waiting'}-${bar.kind}`}
                  class={`bar bar-${bar.kind}${bar.state === null ? '' : ` state-${bar.state}`}`}
                  data-kind={bar.kind}
                  data-attempt={bar.attempt ?? undefined}
                  data-state={bar.state ?? undefined}
                  title={`${itemId}${bar.attempt === null ? '' : `, attempt ${bar.attempt}`}: ${bar.label}`}
                  style={{ left: at(bar.from), width: width(bar) }}
                />
              ))}
            </span>
          </div>
        ))}
      </div>
    </section>
  );
}

/** An item's bars: each attempt's spans, then what it waits for now (ready, not yet dispatched). */
function barsOf(item: ItemSummary | undefined, attempts: readonly AttemptView[], now: number): Bar[] {
  const readyAt = item?.readyAt ?? null;
  const bars: Bar[] = attempts.flatMap((attempt, index) =>
    spansOf(attempt, readyFor(attempts, index, readyAt)).map((span) => ({
      kind: span.kind,
      attempt: attempt.attempt,
      state: span.kind === 'run' ? attempt.state : null,
      from: Date.parse(span.from),
      to: span.to === null ? now : Date.parse(span.to),
      label: span.label,
    })),
  );
  if (item?.state === 'ready' && readyAt !== null && !attempts.some((attempt) => Date.parse(attempt.dispatchedAt) >= Date.parse(readyAt))) {
    const lockFrom = item.lockWait ? Date.parse(item.lockWait.startedAt) : now;
    bars.push({ kind: 'queue', attempt: null, state: null, from: Date.parse(readyAt), to: lockFrom, label: `waiting in the queue since ${readyAt}` });
    if (item.lockWait)
      bars.push({ kind: 'lock', attempt: null, state: null, from: lockFrom, to: now, label: `waiting for lock ${item.lockWait.locks.join(', ')}` });
  }
  return bars;
}
