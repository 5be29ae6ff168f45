import type { RunState } from '@cairn/core';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/api-error.ts';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { followEvents } from '../api/follow-events.ts';
import { latestEventId } from '../api/latest-event-id.ts';
import { lifecycleStates } from '../lifecycle-states.ts';
import { readRunCounts } from '../api/run-counts.ts';
import type { RunPage, RunSummary } from '../api/run-summary.ts';
import { StateBadge } from '../state-badge.tsx';
import { FilterForm } from '../filter-form.tsx';
import { Icon } from '../icons.tsx';
import { runMatches, useRunSpecs } from '../run/run-search.ts';
import { hrefOf, queryOf, runFilterNames, type RunFilters } from '../use-route.ts';
import { useThrottled } from '../use-throttled.ts';
import { Duration, When } from '../time-format.tsx';
import { usePageError } from '../use-page-error.ts';
import { actorLabel, useTokenNames } from '../api/actor-names.ts';
import type { Permissions } from '../api/permissions.ts';
import { RunsChart } from '../charts/runs-chart.tsx';

const pageSize = 50;

/** The run filters the form offers beside the state links, with what each takes. */
const runFilterFields = [
  { name: 'name', label: 'Name', hint: 'exact run name' },
  { name: 'submitter', label: 'Submitter', hint: 'actor id: click a name in the By column' },
  { name: 'submittedAfter', label: 'Submitted at or after', hint: 'in your time zone, inclusive', kind: 'time' },
  { name: 'submittedBefore', label: 'Submitted before', hint: 'in your time zone, exclusive', kind: 'time' },
] as const;

/**
 * The runs, newest first, with counts by state and filters by state, exact name, submitter and
 * submit time (kept in the page's URL, so a filtered list can be linked and reloaded). Live: the page follows
 * `/v1/events` and, when a run changes state (or a new one is submitted), reads the first page
 * and the counts again — at most twice a second, however many events arrive. Server-sent events
 * rather than polling: the list changes the moment a run does, and an idle server costs nothing.
 */
export function RunsPage({
  api,
  permissions,
  filters,
  onUnauthenticated,
}: {
  readonly api: DashboardApi;
  readonly permissions: Permissions;
  readonly filters: RunFilters;
  readonly onUnauthenticated: () => void;
}) {
  const tokenNames = useTokenNames(api, permissions);
  const [runs, setRuns] = useState<readonly RunSummary[] | null>(null);
  const [nextCursor, setNextCursor] = useState<string | undefined>(undefined);
  const [counts, setCounts] = useState<Record<string, number>>({});
  const [live, setLive] = useState(false);
  const { error, setError, fail } = usePageError(onUnauthenticated);
  const filter = filters.state !== undefined && (lifecycleStates.runs as readonly string[]).includes(filters.state) ? (filters.state as RunState) : null;
  // The API's query for these filters (an unknown state is dropped: it would be refused). A string,
  // so that the list is read again only when the filters change, not on every render.
  const filterQuery = queryOf({ ...filters, state: filter ?? undefined }, runFilterNames).replace(/^\?/, '');
  const load = useCallback(async () => {
    try {
      const query = `limit=${pageSize}${filterQuery ? `&${filterQuery}` : ''}`;
      const [page, latestCounts] = await Promise.all([api.json<RunPage>(`/v1/runs?${query}`), readRunCounts(api)]);
      setRuns(page.runs);
      setNextCursor(page.nextCursor);
      setCounts(latestCounts);
      setError(null);
    } catch (failure) {
      fail(failure);
    }
  }, [api, filterQuery, fail]);
  const refresh = useThrottled(() => void load(), 500);
  useEffect(() => {
    setRuns(null);
    const controller = new AbortController();
    void (async () => {
      const after = await latestEventId(api);
      await load();
      if (controller.signal.aborted) return;
      await followEvents(api, '/v1/events', {
        signal: controller.signal,
        after,
        onOpen: () => setLive(true),
        onEvent: (event) => {
          setLive(true);
          if (event.type === 'run.state') refresh();
        },
        onError: (failure) => {
          setLive(false);
          if (failure instanceof ApiError && failure.status === 401) onUnauthenticated();
        },
      });
    })();
    return () => controller.abort();
  }, [api, load]);
  const more = async () => {
    if (nextCursor === undefined) return;
    try {
      const page = await api.json<RunPage>(`/v1/runs?limit=${pageSize}&cursor=${encodeURIComponent(nextCursor)}${filterQuery ? `&${filterQuery}` : ''}`);
      setRuns((current) => [...(current ?? []), ...page.runs]);
      setNextCursor(page.nextCursor);
    } catch (failure) {
      fail(failure);
    }
  };
  const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
  const [search, setSearch] = useState('');
  const searching = search.trim() !== '';
  const { specs, pending } = useRunSpecs(api, runs ?? [], searching);
  const shown = runs === null ? null : runs.filter((run) => runMatches(run, specs.get(run.runId), search));
  return (
    <main class="runs-page">
      <h1>
        Runs <span class={`live ${live ? 'on' : 'off'}`}>{live ? 'live' : 'connecting…'}</span>
      </h1>
      <nav class="state-filter" aria-label="Filter by state">
        <a href={hrefOf({ page: 'runs', filters: { ...filters, state: undefined } })} aria-current={filter === null ? 'page' : undefined} data-state="all">
          all <span class="count">{total}</span>
        </a>
        {lifecycleStates.runs.map((name) => (
          <a
            key={name}
            href={hrefOf({ page: 'runs', filters: { ...filters, state: name } })}
            aria-current={filter === name ? 'page' : undefined}
            data-state={name}
          >
            <StateBadge state={name} /> <span class="count">{counts[name] ?? 0}</span>
          </a>
        ))}
      </nav>
      <FilterForm
        label="Filter runs"
        fields={runFilterFields}
        values={filters}
        onApply={(values) => {
          location.hash = hrefOf({ page: 'runs', filters: { ...values, state: filters.state } });
        }}
        clearHref={hrefOf({ page: 'runs', filters: { state: filters.state } })}
      />
      <div class="search" role="search">
        <label>
          <Icon name="search" />
          <span class="visually-hidden">Search runs</span>
          <input
            type="search"
            aria-label="Search runs"
            placeholder="Search by name, label (key=value) or item id"
            value={search}
            onInput={(event) => setSearch((event.target as HTMLInputElement).value)}
          />
        </label>
        {searching && runs !== null && (
          <span class="hint search-scope" role="status">
            {shown!.length} of the {runs.length} runs loaded match{pending > 0 ? ` (reading ${pending} more specs…)` : ''}: the search looks through the runs
            listed here{nextCursor !== undefined ? '; More loads older ones' : ''}.
          </span>
        )}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {runs === null || shown === null ? (
        <p class="loading">Loading runs…</p>
      ) : shown.length === 0 ? (
        <p class="empty">
          {searching
            ? 'No run loaded matches the search.'
            : filterQuery !== ''
              ? 'No runs match these filters.'
              : 'No runs yet: submit one with `cairn submit`.'}
        </p>
      ) : (
        <>
          <RunsChart api={api} runs={shown} />
          <table class="runs">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">State</th>
                <th scope="col" title="Dispatch priority: 1 (lowest) to 5 (highest)">
                  Priority
                </th>
                <th scope="col">Items</th>
                <th scope="col">Submitted</th>
                <th scope="col">Duration</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((run) => (
                <tr key={run.runId} data-run-id={run.runId}>
                  <td>
                    <a href={hrefOf({ page: 'run', runId: run.runId, itemId: null, evidence: false })}>{run.name}</a>
                    <div class="run-id">{run.runId}</div>
                  </td>
                  <td>
                    <StateBadge state={run.state} />
                  </td>
                  <td class="run-priority">{run.priority}</td>
                  <td>
                    {run.itemsFinished}/{run.itemsTotal}
                    {run.itemsFailed > 0 && <span class="failed-count"> ({run.itemsFailed} failed)</span>}
                  </td>
                  <td>
                    <When iso={run.submittedAt} />
                  </td>
                  <td class="run-duration">
                    <Duration from={run.submittedAt} to={run.finishedAt} />
                    {run.finishedAt === null && <span class="hint"> so far</span>}
                  </td>
                  <td>
                    {run.submittedBy && (
                      <a
                        href={hrefOf({ page: 'runs', filters: { submitter: run.submittedBy } })}
                        class="submitter"
                        data-actor={run.submittedBy}
                        title={`${run.submittedBy}: only this submitter's runs`}
                      >
                        {actorLabel(run.submittedBy, tokenNames)}
                      </a>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {nextCursor !== undefined && (
        <button type="button" onClick={() => void more()}>
          More
        </button>
      )}
    </main>
  );
}
