import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/api-error.ts';
import type { DashboardApi } from '../api/dashboard-api.ts';
import type { components } from '../api/openapi.d.ts';
import type { Permissions } from '../api/permissions.ts';
import type { RunSummary } from '../api/run-summary.ts';
import { StateBadge } from '../state-badge.tsx';
import { hrefOf } from '../use-route.ts';
import { relativeText, When } from '../time-format.tsx';
import { usePageError } from '../use-page-error.ts';

/**
 * A schedule as `GET /v1/schedules` answers it: the API's Schedule, generated from its OpenAPI
 * document, which declares only its id, expression, time zone and next slot. The other fields the
 * page reads are sent (the schedule's record passes through) but not declared, so they are named here.
 */
type ScheduleView = components['schemas']['Schedule'] & {
  readonly catchUp: unknown;
  readonly overlap: string;
  readonly specDigest: string;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly lastRunId: string | null;
};

/** A schedule with the run its last slot submitted (whose name is the spec's name), when one fired. */
interface ScheduleRow {
  readonly schedule: ScheduleView;
  readonly lastRun: RunSummary | null;
}

/**
 * The cron schedules (`GET /v1/schedules`, `runs:read`): expression and time zone, the next and the
 * last fire, the spec's name (read from the run the last slot submitted: a schedule stores its
 * spec by digest only), the catch-up and overlap policies. Each slot's run is `<scheduleId>@<slot>`;
 * "runs" links to the runs of the spec's name. The API has no pause: a schedule runs until it is
 * removed, which needs `admin`, so **Remove** shows only for a session that may (`GET /v1/session`).
 */
export function SchedulesPage({
  api,
  permissions,
  onUnauthenticated,
}: {
  readonly api: DashboardApi;
  readonly permissions: Permissions;
  readonly onUnauthenticated: () => void;
}) {
  const [rows, setRows] = useState<readonly ScheduleRow[] | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const { error, setError, fail } = usePageError(onUnauthenticated);
  const load = useCallback(async () => {
    try {
      const schedules = await api.json<ScheduleView[]>('/v1/schedules');
      const lastRuns = await Promise.all(
        schedules.map((schedule) =>
          schedule.lastRunId === null
            ? Promise.resolve(null)
            : api.json<RunSummary>(`/v1/runs/${encodeURIComponent(schedule.lastRunId)}`).catch((failure: unknown) => {
                // A run that cannot be read leaves its cells empty; a revoked token still signs out.
                if (failure instanceof ApiError && failure.status === 401) throw failure;
                return null;
              }),
        ),
      );
      setRows(schedules.map((schedule, index) => ({ schedule, lastRun: lastRuns[index] ?? null })));
      setError(null);
    } catch (failure) {
      fail(failure);
    }
  }, [api, fail]);
  useEffect(() => {
    void load();
  }, [load]);
  const remove = async (scheduleId: string) => {
    try {
      await api.request('DELETE', `/v1/schedules/${encodeURIComponent(scheduleId)}`);
      setConfirming(null);
      await load();
    } catch (failure) {
      fail(failure);
    }
  };
  const mayRemove = permissions.may('schedules.manage');
  return (
    <main class="schedules-page">
      <h1>Schedules</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {rows === null ? (
        <p class="loading">Loading schedules…</p>
      ) : rows.length === 0 ? (
        <p class="empty">No schedules: add one with `cairn schedule add`.</p>
      ) : (
        <table class="schedules">
          <thead>
            <tr>
              <th scope="col">Schedule</th>
              <th scope="col">When</th>
              <th scope="col">Next fire</th>
              <th scope="col">Last fire</th>
              <th scope="col">Spec</th>
              <th scope="col">Policies</th>
              {mayRemove && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {rows.map(({ schedule, lastRun }) => (
              <tr key={schedule.scheduleId} data-schedule-id={schedule.scheduleId}>
                <th scope="row">
                  {schedule.scheduleId}
                  <div class="run-id">
                    by {schedule.createdBy}, <When iso={schedule.createdAt} />
                  </div>
                </th>
                <td>
                  <code>{schedule.cron}</code> <span class="time-zone">{schedule.timeZone}</span>
                </td>
                <td class="next-fire">{schedule.nextSlot === null ? 'none: the expression has no later slot' : <When iso={schedule.nextSlot} />}</td>
                <td class="last-fire">
                  {schedule.lastRunId === null ? (
                    'not yet'
                  ) : (
                    <>
                      <a href={hrefOf({ page: 'run', runId: schedule.lastRunId, itemId: null, evidence: false })}>{lastSlotOf(schedule)}</a>
                      {lastRun && (
                        <>
                          {' '}
                          <StateBadge state={lastRun.state} />
                        </>
                      )}
                    </>
                  )}
                </td>
                <td>
                  {lastRun ? (
                    <a href={hrefOf({ page: 'runs', filters: { name: lastRun.name } })} title="The runs of this name">
                      {lastRun.name}
                    </a>
                  ) : (
                    <span class="hint">named once it fires</span>
                  )}
                  <div class="run-id" title="The digest of the spec each slot submits">
                    {schedule.specDigest.slice(0, 19)}…
                  </div>
                </td>
                <td>
                  catch-up {typeof schedule.catchUp === 'string' ? schedule.catchUp : JSON.stringify(schedule.catchUp)}, overlap {schedule.overlap}
                </td>
                {mayRemove && (
                  <td>
                    {confirming === schedule.scheduleId ? (
                      <>
                        <button type="button" class="danger" onClick={() => void remove(schedule.scheduleId)}>
                          Remove {schedule.scheduleId}
                        </button>{' '}
                        <button type="button" onClick={() => setConfirming(null)}>
                          Keep
                        </button>
                      </>
                    ) : (
                      <button type="button" onClick={() => setConfirming(schedule.scheduleId)}>
                        Remove…
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}

/** The slot the last run was submitted for: its id is `<scheduleId>@<slot ISO time>`. */
function lastSlotOf(schedule: ScheduleView): string {
  const prefix = `${schedule.scheduleId}@`;
  const slot = schedule.lastRunId?.startsWith(prefix) ? schedule.lastRunId.slice(prefix.length) : null;
  return slot !== null && !Number.isNaN(Date.parse(slot)) ? relativeText(slot) : (schedule.lastRunId ?? '');
}
