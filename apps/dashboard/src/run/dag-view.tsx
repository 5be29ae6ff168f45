import type { ItemState } from '@cairn/core';
import type { DagLayout } from './dag-layout.ts';
import { Icon } from '../icons.tsx';
import type { AttemptView } from '../item/item-attempts.tsx';
import { durationBetween, durationText, useNow } from '../time-format.tsx';
import type { ItemSummary } from '../api/run-summary.ts';
import { stateSummary, type CollapsedGroup } from './drawn-graph.ts';

/** The graph is drawn no smaller than this share of its full size: below it, its column scrolls. */
export const minimumGraphScale = 0.75;

/**
 * The run's DAG as SVG: one box per item, coloured by its state and with the state's name
 * written in it (readable without colour), arrows from prerequisites to dependents (dashed: an
 * added item hanging off what added it). Each item is focusable (Tab) and opens with Enter or
 * Space, or a click. A collapsed group is one stacked box with its count and states, which
 * expands the same ways.
 */
export function DagView({
  layout,
  items,
  states,
  collapsed,
  attempts,
  selected,
  onOpen,
  expandable,
  onExpand,
}: {
  readonly layout: DagLayout;
  readonly items: ReadonlyMap<string, ItemSummary>;
  /** Each item's state as the graph read it, for items the item list does not hold yet. */
  readonly states: ReadonlyMap<string, ItemState>;
  /** The collapsed groups, by their node ids. */
  readonly collapsed: ReadonlyMap<string, CollapsedGroup>;
  /** Each item's attempts, as far as read: its run time and attempt count are written in its box. */
  readonly attempts: ReadonlyMap<string, readonly AttemptView[]>;
  readonly selected: string | null;
  readonly onOpen: (itemId: string) => void;
  /** The emitters whose collapsed groups may expand (within the drawing limit). */
  readonly expandable: ReadonlySet<string>;
  readonly onExpand: (emitter: string) => void;
}) {
  const stateOf = (itemId: string): ItemState => items.get(itemId)?.state ?? states.get(itemId) ?? 'blocked';
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
          class={`edge edge-${edge.kind}`}
          // A collapsed group's node id is not an item id: its edges name its items as `<emitter>/*`.
          data-from={dataId(edge.from)}
          data-to={dataId(edge.to)}
          data-kind={edge.kind}
          points={edge.points.map((point) => `${point.x},${point.y}`).join(' ')}
          marker-end="url(#arrow)"
        />
      ))}
      {[...layout.nodes].map(([itemId, box]) => {
        const group = collapsed.get(itemId);
        if (group !== undefined)
          return (
            <GroupNode
              key={itemId}
              group={group}
              box={box}
              stateOf={stateOf}
              // The open item, folded in it: the group is what shows it.
              selected={selected !== null && group.itemIds.includes(selected)}
              onExpand={expandable.has(group.emitter) ? onExpand : null}
            />
          );
        const item = items.get(itemId);
        const state = stateOf(itemId);
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

/** A collapsed group: a stack of boxes saying how many items, and how many are in each state; a click, Enter or Space expands it. */
function GroupNode({
  group,
  box,
  stateOf,
  selected,
  onExpand,
}: {
  readonly group: CollapsedGroup;
  readonly selected: boolean;
  readonly box: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
  readonly stateOf: (itemId: string) => ItemState;
  readonly onExpand: ((emitter: string) => void) | null;
}) {
  const summary = stateSummary(group.itemIds, stateOf);
  const expand = onExpand === null ? undefined : () => onExpand(group.emitter);
  const [noun, preposition] = group.reason === 'forEach' ? ['instances', 'of'] : group.reason === 'rerun' ? ['re-runs', 'of'] : ['items', 'from'];
  return (
    <g
      class={`dag-item dag-group state-${summary.state}${selected ? ' selected' : ''}`}
      data-group-id={group.emitter}
      data-state={summary.state}
      transform={`translate(${box.x - box.width / 2},${box.y - box.height / 2})`}
      {...(expand === undefined ? {} : { tabindex: 0, role: 'button' })}
      aria-label={`${group.emitter}: ${summary.text}${expand === undefined ? ' (too many to draw one by one)' : '. Expand'}`}
      aria-expanded={expand === undefined ? undefined : 'false'}
      onClick={expand}
      onKeyDown={(event) => {
        if (expand !== undefined && (event.key === 'Enter' || event.key === ' ')) {
          event.preventDefault();
          expand();
        }
      }}
    >
      <title>{`${group.emitter}: ${summary.text}`}</title>
      {/* Two boxes behind it: it stands for many. */}
      <rect x="6" y="-6" width={box.width - 6} height={box.height} rx="6" class="stacked" />
      <rect x="3" y="-3" width={box.width - 3} height={box.height} rx="6" class="stacked" />
      <rect width={box.width - 6} height={box.height} rx="6" />
      <text x="10" y="21" class="item-id">
        {`${group.itemIds.length} ${noun}`}
        <tspan class="group-of">{` ${preposition} ${truncate(group.emitter, 18)}`}</tspan>
      </text>
      <text x="10" y="40" class="item-state">
        {truncate(summary.counts, 34)}
      </text>
      <text x="10" y="58" class="item-meta">
        {expand === undefined ? 'too many to expand' : 'expand'}
      </text>
    </g>
  );
}

/** The id an edge's end is written as in the page: an item's id, or `<emitter>/*` for a collapsed group's items. */
function dataId(nodeId: string): string {
  return nodeId.startsWith('\u0000') ? `${nodeId.slice(1)}/*` : nodeId;
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
