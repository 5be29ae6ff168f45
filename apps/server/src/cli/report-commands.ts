import type { RunView } from '@cairn/client';
import { CairnError } from '@cairn/protocol/errors';
import { Option } from 'commander';
import { renderRunReport, reportFormats, type ReportFormat } from '../report/render-run-report.ts';
import { buildRunReport, type ReportedRun } from '../report/run-report.ts';
import { clientOf, json, program, say } from './cli-program.ts';
import { writeChunks } from './file-output.ts';

/** Runs whose spend is read at once. */
const spendReads = 8;

/** `cairn report`: the run history with totals, as JSON, Markdown, CSV or HTML. */
/** What the report reads of a listed run; a server that does not count succeeded items is too old for it. */
function reportedRun(run: RunView): ReportedRun {
  if (run.itemsSucceeded === undefined || run.itemsReused === undefined)
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `GET /v1/runs answered run ${run.runId} without itemsSucceeded and itemsReused, which cairn report needs.`, {
      path: 'runs[].itemsSucceeded',
      action: 'Upgrade the server to the version of this cli, or use a cli as old as the server.',
    });
  const { runId, name, state, submittedBy, submittedAt, finishedAt, itemsTotal, itemsFailed, itemsSucceeded, itemsReused } = run;
  return { runId, name, state, submittedBy, submittedAt, finishedAt, itemsTotal, itemsFailed, itemsSucceeded, itemsReused };
}

export function addReportCommands(): void {
  program
    .command('report')
    .addOption(new Option('--format <format>', 'json, md, csv or html (default md; json with --json)').choices(reportFormats))
    .option('--since <time>', 'only runs submitted at or after this ISO time')
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--server <url>', 'the server')
    .description("run history: each run's state, who submitted it, when, how long, and its items; totals first")
    .action(async (options: { format?: ReportFormat; since?: string; out?: string; server?: string }) => {
      const since = options.since === undefined ? undefined : Date.parse(options.since);
      if (Number.isNaN(since))
        throw new CairnError('CAIRN_PAYLOAD_INVALID', `--since must be an ISO 8601 time such as 2026-11-22T00:00:00Z, not ${JSON.stringify(options.since)}.`, {
          path: '--since',
        });
      const client = await clientOf(options.server);
      const runs: ReportedRun[] = [];
      // Newest first: once a page reaches runs older than --since, no later page has newer ones.
      for (let cursor: string | undefined, done = false; !done;) {
        const page = await client.runs({ limit: 500, ...(cursor ? { cursor } : {}) });
        for (const run of page.runs.map(reportedRun)) {
          if (since !== undefined && Date.parse(run.submittedAt) < since) {
            done = true;
            break;
          }
          runs.push(run);
        }
        cursor = page.nextCursor;
        done ||= cursor === undefined;
      }
      // Why each failed item failed, from the items of runs that have any (the others cost nothing).
      for (const [index, run] of runs.entries()) {
        if (run.itemsFailed === 0) continue;
        const failedItems = (await client.items(run.runId)).flatMap((item) => {
          if (item.state !== 'failed' || !item.failure) return [];
          const { code, message, exitCode, signal, rule } = item.failure;
          return [{ itemId: item.itemId, code, message, exitCode, signal, ...(rule === undefined ? {} : { rule }) }];
        });
        runs[index] = { ...run, failedItems };
      }
      // What each run's model calls spent: its own answer (`GET /v1/runs/{runId}`), a few at a time.
      for (let start = 0; start < runs.length; start += spendReads) {
        await Promise.all(
          runs.slice(start, start + spendReads).map(async (run, offset) => {
            const spend = (await client.run(run.runId)).spend?.total;
            if (spend === undefined) return;
            const tokens = spend.inputTokens + spend.outputTokens + spend.cacheReadTokens + spend.cacheWriteTokens;
            runs[start + offset] = { ...run, spend: { costUsd: spend.costUsd, tokens, calls: spend.calls, unknownCost: spend.unknownCost } };
          }),
        );
      }
      const report = buildRunReport(runs, { generatedAt: new Date().toISOString(), ...(since === undefined ? {} : { since: new Date(since).toISOString() }) });
      const text = renderRunReport(report, options.format ?? (json() ? 'json' : 'md'));
      await writeChunks([text], options.out);
      if (options.out !== undefined) say(json() ? JSON.stringify({ out: options.out, runs: runs.length }) : `wrote ${runs.length} runs to ${options.out}`);
    });
}
