import type { DashboardApi } from '../api/dashboard-api.ts';
import { useRunSpends } from '../api/run-spends.ts';
import type { RunSummary } from '../api/run-summary.ts';
import { durationBetween, useNow } from '../time-format.tsx';
import { SpendDurationChart, type TimedBar } from './spend-duration-chart.tsx';

/** A clock time, with the date when the times drawn span more than a day. */
export function clockLabel(spanMs: number): (time: number) => string {
  const withDate = spanMs > 86_400_000;
  return (time) =>
    withDate
      ? new Date(time).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
      : new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** The listed runs' durations and spend over the list's time range (by submit time). */
export function RunsChart({ api, runs }: { readonly api: DashboardApi; readonly runs: readonly RunSummary[] }) {
  const spends = useRunSpends(api, runs);
  const now = useNow(1_000);
  const bars: TimedBar[] = runs.map((run) => ({
    id: run.runId,
    label: run.name,
    start: Date.parse(run.submittedAt),
    durationMs: durationBetween(run.submittedAt, run.finishedAt, now),
    spendUsd: spends.get(run.runId) ?? null,
    state: run.state,
    live: run.finishedAt === null,
  }));
  const starts = bars.map((bar) => bar.start);
  const span = starts.length === 0 ? 0 : Math.max(...starts) - Math.min(...starts);
  return <SpendDurationChart title={`Duration and model spend of the ${runs.length} runs listed, by submit time`} bars={bars} timeLabel={clockLabel(span)} />;
}
