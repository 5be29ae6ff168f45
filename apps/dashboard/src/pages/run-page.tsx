import type { RunSpecV1 } from '@cairn/core';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ActionBar } from '../action-bar.tsx';
import { ApiError } from '../api/api-error.ts';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { layoutDag } from '../run/dag-layout.ts';
import { DagView, minimumGraphScale } from '../run/dag-view.tsx';
import { followEvents } from '../api/follow-events.ts';
import { ItemPanel } from '../item/item-panel.tsx';
import { RunTimeline } from '../run/run-timeline.tsx';
import { EvidenceView } from '../run/evidence-view.tsx';
import { RunDeliveries } from '../run/delivery-panel.tsx';
import { latestEventId } from '../api/latest-event-id.ts';
import { lifecycleStates } from '../lifecycle-states.ts';
import type { Permissions } from '../api/permissions.ts';
import { runItemIds } from '../run/run-item-ids.ts';
import { readRunGraph, type RunGraph } from '../api/run-graph.ts';
import { drawnGraph, type CollapsibleGroup } from '../run/drawn-graph.ts';
import type { ItemSummary, RunSummary } from '../api/run-summary.ts';
import { spendText } from '../spend-text.ts';
import { StateBadge } from '../state-badge.tsx';
import { BudgetRaise } from '../run/budget-raise.tsx';
import { hrefOf, type Route } from '../use-route.ts';
import { useElementWidth } from '../use-element-width.ts';
import { useRunAttempts } from '../run/use-run-attempts.ts';
import { useThrottled } from '../use-throttled.ts';
import { Duration, When } from '../time-format.tsx';
import { usePageError } from '../use-page-error.ts';
import { RunAgainButton } from '../run/run-again-button.tsx';
import { RunItemsChart } from '../charts/run-items-chart.tsx';
import { RerunFromItemButton } from '../run/rerun-from-item-button.tsx';
import { rerunPlan } from '../run/rerun-from-item.ts';

/** The item panel's narrowest width beside the graph (px), and the gap between them. */
const panelMinimumWidth = 480;
const columnGap = 16;
/** The graph column's padding and border, both sides (px). */
const graphChrome = 18;

/**
 * Above this many nodes the graph is not drawn (a table lists its items): dagre's layout grows
 * faster than linearly. A collapsed group is one node.
 */
const largeGraphItems = 400;

/**
 * A run: its state and counts, its DAG with each item's live state (from the run's event stream),
 * and the selected item's panel. Item states change in place from the events; the run, and the
 * items with their failure reasons, are read again (throttled) when states change. The DAG is the
 * run's graph as the server has it (`GET /v1/runs/{runId}/graph`), with the items the run gained
 * as it grew (ADR 0034): read again when an event names an item it does not hold.
 */
export function RunPage({
  api,
  route,
  permissions,
  onUnauthenticated,
}: {
  readonly api: DashboardApi;
  readonly route: Extract<Route, { page: 'run' }>;
  readonly permissions: Permissions;
  readonly onUnauthenticated: () => void;
}) {
  const { runId } = route;
  const [run, setRun] = useState<RunSummary | null>(null);
  const [spec, setSpec] = useState<RunSpecV1 | null>(null);
  const [items, setItems] = useState<ReadonlyMap<string, ItemSummary>>(new Map());
  const [graph, setGraph] = useState<RunGraph | null>(null);
  // The items of the graph last read: an event naming another means the run has grown.
  const graphItems = useRef<ReadonlySet<string>>(new Set());
  // Groups above the collapsing size the reader opened.
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());
  const [live, setLive] = useState<'connecting' | 'live' | 'ended'>('connecting');
  const { error, fail } = usePageError(onUnauthenticated);
  const path = `/v1/runs/${encodeURIComponent(runId)}`;
  const reload = useCallback(async (): Promise<RunSummary | null> => {
    try {
      const [latestRun, latestItems] = await Promise.all([api.json<RunSummary>(path), api.json<ItemSummary[]>(`${path}/items`)]);
      setRun(latestRun);
      setItems(new Map(latestItems.map((item) => [item.itemId, item])));
      return latestRun;
    } catch (failure) {
      fail(failure);
      return null;
    }
  }, [api, path, fail]);
  const refresh = useThrottled(() => void reload(), 400);
  const loadGraph = useCallback(
    async (signal?: AbortSignal): Promise<void> => {
      try {
        const latest = await readRunGraph(api, path, signal);
        graphItems.current = new Set(latest.nodes.map((node) => node.itemId));
        setGraph(latest);
      } catch (failure) {
        if (!signal?.aborted) fail(failure);
      }
    },
    [api, path, fail],
  );
  // A planner's fragment, a forEach item's instances, come as a burst of events: one read for them all.
  const regraph = useThrottled(() => void loadGraph(), 500);
  useEffect(() => {
    const controller = new AbortController();
    void (async () => {
      try {
        setSpec(await api.json<RunSpecV1>(`${path}/spec`, controller.signal));
      } catch (failure) {
        if (!controller.signal.aborted) fail(failure);
      }
    })();
    void (async () => {
      // The states are loaded after this point, so events from it on are all that can change them.
      const after = await latestEventId(api);
      const [loaded] = await Promise.all([reload(), loadGraph(controller.signal)]);
      if (controller.signal.aborted || loaded === null) return;
      // An ended run has no more events: its stream, started after them, would never end.
      if (loaded.finishedAt !== null) return setLive('ended');
      await followEvents(api, `${path}/events`, {
        signal: controller.signal,
        after,
        endsWhenClosed: true,
        onOpen: () => setLive('live'),
        onEvent: (event) => {
          setLive('live');
          if ((event.type === 'item.state' || event.type === 'attempt.state') && !graphItems.current.has(event.itemId)) regraph();
          if (event.type === 'item.state')
            setItems((current) => {
              const item = current.get(event.itemId);
              if (!item) return current;
              const next = new Map(current);
              next.set(event.itemId, { ...item, state: event.state });
              return next;
            });
          // The full failure (its stderr tail) and the run's counts come from the API.
          if (event.type !== 'attempt.state') refresh();
        },
        onEnd: () => {
          setLive('ended');
          void reload();
          void loadGraph();
        },
        onError: (failure) => {
          setLive('connecting');
          if (failure instanceof ApiError && failure.status === 401) onUnauthenticated();
        },
      });
    })();
    return () => controller.abort();
  }, [api, path]);
  // The spec's items, then those its planners added (ADR 0034), as the run grows.
  const idsKey = runItemIds(spec, items).join('\n');
  const itemIds = useMemo(() => (idsKey === '' ? [] : idsKey.split('\n')), [idsKey]);
  // The graph's shape changes only when items are added, not with every state: what is drawn, and
  // its layout (dagre, up to 400 nodes), are made again only then, or when a group opens or closes.
  const shapeKey =
    graph === null
      ? ''
      : `${graph.nodes.map((node) => `${node.itemId} ${node.group ?? ''} ${node.grows ?? ''}`).join('\n')}\n\n${graph.edges.map((edge) => `${edge.from} ${edge.to} ${edge.kind}`).join('\n')}`;
  const drawn = useMemo(() => (graph === null ? null : drawnGraph(graph, expanded, largeGraphItems)), [shapeKey, expanded]);
  const layout = useMemo(
    () => (drawn !== null && drawn.nodeIds.length <= largeGraphItems ? layoutDag(drawn.nodeIds, drawn.edges, new Set(drawn.collapsed.keys())) : null),
    [drawn],
  );
  const graphStates = useMemo(() => new Map(graph?.nodes.map((node) => [node.itemId, node.state]) ?? []), [graph]);
  const toggle = (emitter: string) =>
    setExpanded((current) => {
      const next = new Set(current);
      if (!next.delete(emitter)) next.add(emitter);
      return next;
    });
  // With an item open, the graph and its panel sit side by side only if the whole graph fits its
  // column at a scale that still reads; else the panel goes below the graph, which keeps the full
  // width (a graph cut off at its right edge hides the items that run last).
  const body = useElementWidth<HTMLDivElement>();
  const sideBySide = route.itemId === null || layout === null || layout.width * minimumGraphScale + graphChrome <= body.width - panelMinimumWidth - columnGap;
  const attempts = useRunAttempts(api, runId, items, itemIds.length <= largeGraphItems);
  const open = (itemId: string) => {
    location.hash = hrefOf({ page: 'run', runId, itemId, evidence: false });
  };
  const byState = new Map<string, number>();
  for (const item of items.values()) byState.set(item.state, (byState.get(item.state) ?? 0) + 1);
  return (
    <main class="run-page">
      <p class="crumbs">
        <a href="#/runs">Runs</a> / {runId}
      </p>
      <h1>
        {run?.name ?? runId} {run && <StateBadge state={run.state} />}{' '}
        <span class={`live ${live === 'live' ? 'on' : 'off'}`}>{live === 'ended' ? 'ended' : live === 'live' ? 'live' : 'connecting…'}</span>
      </h1>
      <nav class="run-tabs">
        <a href={hrefOf({ page: 'run', runId, itemId: null, evidence: false })} aria-current={!route.evidence && route.timeline !== true ? 'page' : undefined}>
          Graph
        </a>
        <a href={hrefOf({ page: 'run', runId, itemId: null, evidence: false, timeline: true })} aria-current={route.timeline === true ? 'page' : undefined}>
          Timeline
        </a>
        {permissions.may('audit.read') && (
          <a href={hrefOf({ page: 'run', runId, itemId: null, evidence: true })} aria-current={route.evidence ? 'page' : undefined}>
            Evidence
          </a>
        )}
      </nav>
      {run?.state === 'awaiting-budget' && (
        <BudgetRaise
          run={run}
          may={permissions.may('runs.budget')}
          raise={async (budget, reason) => {
            await api.post(`${path}/budget`, { budget, reason });
            refresh();
          }}
        />
      )}
      {run && (run.state === 'queued' || run.state === 'running' || run.state === 'awaiting-budget') && permissions.may('runs.cancel') && (
        <ActionBar
          label="Actions on the run"
          buttons={[
            {
              label: 'Cancel the run',
              tone: 'danger',
              run: async (reason) => {
                await api.post(`${path}/cancel`, reason === undefined ? {} : { reason });
                refresh();
              },
            },
          ]}
        />
      )}
      {run && run.finishedAt !== null && spec && permissions.may('runs.submit') && <RunAgainButton api={api} spec={spec} fetched={run.workspace} />}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {run && (
        <p class="run-facts">
          {run.itemsFinished}/{run.itemsTotal} items finished{run.itemsFailed > 0 ? `, ${run.itemsFailed} failed` : ''} · priority{' '}
          <span class="run-priority" title="Dispatch priority: 1 (lowest) to 5 (highest)">
            {run.priority}
          </span>
          {' · submitted '}
          <When iso={run.submittedAt} />
          {run.submittedBy ? ` by ${run.submittedBy}` : ''}
          {run.finishedAt ? (
            <>
              {' · finished '}
              <When iso={run.finishedAt} />
              {' · took '}
            </>
          ) : (
            ' · running for '
          )}
          <Duration from={run.submittedAt} to={run.finishedAt} />
          {run.spend && <span class="run-spend"> · spent {spendText(run.spend.total)}</span>}
        </p>
      )}
      <p class="item-counts" aria-label="Items by state">
        {lifecycleStates.items
          .filter((state) => byState.has(state))
          .map((state) => (
            <span key={state} class="item-count">
              <StateBadge state={state} /> {byState.get(state)}
            </span>
          ))}
      </p>
      {!route.evidence && route.timeline !== true && (
        <RunDeliveries
          api={api}
          runId={runId}
          items={items}
          except={route.itemId}
          runEnded={run !== null && run.finishedAt !== null}
          mayReadEvidence={permissions.may('audit.read')}
        />
      )}
      {route.evidence && permissions.may('audit.read') ? (
        <EvidenceView api={api} runId={runId} runEnded={run !== null && run.finishedAt !== null} />
      ) : route.timeline === true ? (
        itemIds.length > largeGraphItems ? (
          // Its attempts are read item by item: not for hundreds of items at once.
          <p class="notice">
            This run has {itemIds.length} items: its timeline is not drawn above {largeGraphItems} items. Each item's attempts show on its own page.
          </p>
        ) : (
          <>
            {run && <RunItemsChart run={run} itemIds={itemIds} items={items} attempts={attempts} />}
            <RunTimeline runId={runId} itemIds={itemIds} items={items} attempts={attempts} />
          </>
        )
      ) : (
        <div class={`run-body ${sideBySide ? 'side-by-side' : 'stacked'}`} ref={body.ref}>
          <section class="graph" aria-label="Items">
            {layout && drawn ? (
              <>
                <GroupToggles groups={drawn.groups} onToggle={toggle} />
                <DagView
                  layout={layout}
                  items={items}
                  states={graphStates}
                  collapsed={drawn.collapsed}
                  attempts={attempts}
                  selected={route.itemId}
                  onOpen={open}
                  expandable={new Set(drawn.groups.filter((group) => group.expandable).map((group) => group.emitter))}
                  onExpand={toggle}
                />
              </>
            ) : spec && graph ? (
              <ItemTable itemIds={itemIds} items={items} onOpen={open} />
            ) : (
              <p class="loading">Loading the graph…</p>
            )}
          </section>
          {route.itemId !== null && (
            <ItemPanel
              key={route.itemId}
              api={api}
              runId={runId}
              item={items.get(route.itemId) ?? null}
              itemId={route.itemId}
              spec={spec?.items.find((item) => item.id === route.itemId) ?? null}
              spend={run?.spend?.items[route.itemId] ?? null}
              runEnded={run !== null && run.finishedAt !== null}
              runAwaitingBudget={run?.state === 'awaiting-budget'}
              permissions={permissions}
              onChanged={refresh}
              onError={fail}
              runActions={
                run !== null &&
                run.finishedAt !== null &&
                spec !== null &&
                graph !== null &&
                items.get(route.itemId)?.state === 'failed' &&
                permissions.may('runs.submit') && (
                  <RerunFromItemButton
                    api={api}
                    itemId={route.itemId}
                    spec={spec}
                    fetched={run.workspace}
                    plan={rerunPlan(route.itemId, spec, graph.edges, graphStates)}
                  />
                )
              }
            />
          )}
        </div>
      )}
    </main>
  );
}

/** A button for each group large enough to collapse: it collapses the group again, or expands it (when it fits the drawing). */
function GroupToggles({ groups, onToggle }: { readonly groups: readonly CollapsibleGroup[]; readonly onToggle: (emitter: string) => void }) {
  if (groups.length === 0) return null;
  return (
    <p class="group-toggles" aria-label="Groups of added items">
      {groups.map((group) => (
        <button
          key={group.emitter}
          type="button"
          class="link"
          aria-pressed={group.expanded}
          disabled={!group.expandable}
          data-group-id={group.emitter}
          onClick={() => onToggle(group.emitter)}
        >
          {group.expanded ? 'Collapse' : 'Expand'} {group.emitter}'s {group.size}{' '}
          {group.reason === 'forEach' ? 'instances' : group.reason === 'rerun' ? 're-runs' : 'items'}
        </button>
      ))}
    </p>
  );
}

/** A large run's items as a table (no graph): id, state; each row opens its item. */
function ItemTable({
  itemIds,
  items,
  onOpen,
}: {
  readonly itemIds: readonly string[];
  readonly items: ReadonlyMap<string, ItemSummary>;
  readonly onOpen: (itemId: string) => void;
}) {
  return (
    <>
      <p class="notice">
        This run has {itemIds.length} items: its graph is not drawn above {largeGraphItems} items; they are listed instead.
      </p>
      <table class="items">
        <tbody>
          {itemIds.map((itemId) => (
            <tr key={itemId} data-item-id={itemId}>
              <td>
                <button type="button" class="link" onClick={() => onOpen(itemId)}>
                  {itemId}
                </button>
              </td>
              <td>
                <StateBadge state={items.get(itemId)?.state ?? 'blocked'} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
