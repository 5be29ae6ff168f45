import type { RunState } from '@cairn/core';

/** Why one item of a run failed, as its item record says (without the stderr: a report stays short). */
export interface ReportedFailure {
  readonly itemId: string;
  readonly code: string;
  readonly message: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly rule?: string;
}

/** What the report needs of a run, as `GET /v1/runs` answers it, and its failed items' failures. */
export interface ReportedRun {
  readonly runId: string;
  readonly name: string;
  readonly state: RunState;
  readonly submittedBy: string;
  readonly submittedAt: string;
  readonly finishedAt: string | null;
  readonly itemsTotal: number;
  readonly itemsSucceeded: number;
  readonly itemsFailed: number;
  readonly itemsReused: number;
  /** Why each failed item failed, for runs with failed items (read from their items). */
  readonly failedItems?: readonly ReportedFailure[];
  /** What its model calls spent through the gateway, for runs that made any. */
  readonly spend?: ReportedSpend;
}

/** A run's spend as the report shows it: dollars by the price table (a floor when some cost is unknown), tokens and calls. */
export interface ReportedSpend {
  readonly costUsd: number;
  readonly tokens: number;
  readonly calls: number;
  /** Calls sent whose cost is unknown: `costUsd` leaves them out. */
  readonly unknownCost: number;
}

/** One line of the report: the run and how long it took (null while it has not finished). */
export interface RunReportRow extends ReportedRun {
  readonly durationMs: number | null;
}

export interface RunReportTotals {
  readonly runs: number;
  readonly byState: Readonly<Record<RunState, number>>;
  readonly itemsTotal: number;
  readonly itemsSucceeded: number;
  readonly itemsFailed: number;
  readonly itemsReused: number;
  /** Dollars and tokens of every run's model calls together (a floor when some cost is unknown). */
  readonly costUsd: number;
  readonly tokens: number;
}

/** Run history: totals first, then each run newest first. */
export interface RunReport {
  readonly generatedAt: string;
  /** Runs submitted at or after this time only, when the report was asked for so. */
  readonly since?: string;
  readonly totals: RunReportTotals;
  readonly runs: readonly RunReportRow[];
}

/** The report of `runs` (in the order given: the server's newest first). */
export function buildRunReport(runs: readonly ReportedRun[], options: { readonly generatedAt: string; readonly since?: string }): RunReport {
  const byState: Record<RunState, number> = { queued: 0, running: 0, 'awaiting-budget': 0, succeeded: 0, failed: 0, cancelled: 0 };
  const totals = { itemsTotal: 0, itemsSucceeded: 0, itemsFailed: 0, itemsReused: 0, costUsd: 0, tokens: 0 };
  const rows = runs.map((run): RunReportRow => {
    byState[run.state]++;
    totals.itemsTotal += run.itemsTotal;
    totals.itemsSucceeded += run.itemsSucceeded;
    totals.itemsFailed += run.itemsFailed;
    totals.itemsReused += run.itemsReused;
    totals.costUsd = Math.round((totals.costUsd + (run.spend?.costUsd ?? 0)) * 1e9) / 1e9;
    totals.tokens += run.spend?.tokens ?? 0;
    const { runId, name, state, submittedBy, submittedAt, finishedAt, itemsTotal, itemsSucceeded, itemsFailed, itemsReused, failedItems, spend } = run;
    return {
      runId,
      name,
      state,
      submittedBy,
      submittedAt,
      finishedAt,
      durationMs: finishedAt === null ? null : Date.parse(finishedAt) - Date.parse(submittedAt),
      itemsTotal,
      itemsSucceeded,
      itemsFailed,
      itemsReused,
      ...(failedItems === undefined || failedItems.length === 0 ? {} : { failedItems }),
      ...(spend === undefined ? {} : { spend }),
    };
  });
  return {
    generatedAt: options.generatedAt,
    ...(options.since === undefined ? {} : { since: options.since }),
    totals: { runs: rows.length, byState, ...totals },
    runs: rows,
  };
}
