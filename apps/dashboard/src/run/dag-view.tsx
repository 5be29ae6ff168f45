import type { DagLayout } from './dag-layout.ts';
import { Icon } from '../icons.tsx';
import type { AttemptView } from '../item/item-attempts.tsx';
import { durationBetween, durationText, useNow } from '../time-format.tsx';
import type { ItemSummary } from '../api/run-summary.ts';

/** The graph is drawn no smaller than this share of its full size: below it, its column scrolls. */
export const minimumGraphScale = 0.75;

/**
 * The run's DAG as SVG: one box per item, coloured by its state and with the state's name
 * written in it (readable without colour), arrows from prerequisites to dependents. Each item is
 * focusable (Tab) and opens with Enter or Space, or a click.
 */
export function DagView({
  layout,
  items,
  attempts,
  selected,
  onOpen,
}: {
  readonly layout: DagLayout;
  readonly items: ReadonlyMap<string, ItemSummary>;
  /** Each item's attempts, as far as read: its run time and attempt count are written in its box. */
  readonly attempts: ReadonlyMap<string, readonly AttemptView[]>;
  readonly selected: string | null;
  readonly onOpen: (itemId: string) => void;
}) {
  const now = useNow(2_000);
  return (
    <svg
      class="dag"
      // As wide as its column, never wider than drawn at full size, never narrower than the
      // smallest scale whose text still reads (then the column scrolls): the whole graph shows.
      width="100%"
      style={{ maxWidth: `${layout.width}px`, minWidth: `${Math.round(layout.width * minimumGraphScale)}px` }}
      viewBox={`0 0 ${layout.width} ${layout.height}`}
      role="group"
      aria-label="The run's items and their dependencies"
    >
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head" />
        </marker>
      </defs>
      {layout.edges.map((edge) => (
        <polyline
          key={`${edge.from}->${edge.to}`}
          class="edge"
          points={edge.points.map((point) => `${point.x},${point.y}`).join(' ')}
          marker-end="url(#arrow)"
        />
      ))}
      {[...layout.nodes].map(([itemId, box]) => {
        const item = items.get(itemId);
        const state = item?.state ?? 'blocked';
        const open = () => onOpen(itemId);
        const meta = metaText(attempts.get(itemId) ?? [], now);
        return (
          <g
            key={itemId}
            class={`dag-item state-${state}${selected === itemId ? ' selected' : ''}`}
            data-item-id={itemId}
            data-state={state}
            transform={`translate(${box.x - box.width / 2},${box.y - box.height / 2})`}
            // Lower-case: on an SVG element Preact sets the attribute by this name, and only `tabindex` makes it focusable.
            tabindex={0}
            role="button"
            aria-label={`${itemId}: ${state}${meta === '' ? '' : `, ${meta}`}`}
            onClick={open}
            onKeyDown={(event) => {
              if (event.key === 'Enter' || event.key === ' ') {
                event.preventDefault();
                open();
              }
            }}
          >
            <rect width={box.width} height={box.height} rx="6" />
            <text x="10" y="21" class="item-id">
              {truncate(itemId, 24)}
            </text>
            <text x="10" y="40" class="item-state">
              {state}
            </text>
            <text x="10" y="58" class="item-meta">
              {meta}
            </text>
            {item?.approvalRequired && state === 'awaiting-approval' && <Icon name="pause" label="waits for approval" size={16} x={box.width - 26} y={8} />}
          </g>
        );
      })}
    </svg>
  );
}

/** How long its attempts ran in all (the one running, up to now), and how many there were when more than one. */
function metaText(attempts: readonly AttemptView[], now: number): string {
  if (attempts.length === 0) return '';
  const ran = attempts.reduce((sum, attempt) => sum + durationBetween(attempt.dispatchedAt, attempt.finishedAt, now), 0);
  return `${durationText(ran)}${attempts.length > 1 ? ` · ${attempts.length} attempts` : ''}`;
}

function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}
