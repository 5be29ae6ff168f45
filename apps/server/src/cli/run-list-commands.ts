import type { RunState } from '@cairn/core';
import { runStates } from '@cairn/protocol';
import { Option } from 'commander';
import { clientOf, json, program, say } from './cli-program.ts';

/** `cairn runs`: one page of the run history, newest first, as a table (or `--json`). */
export function addRunListCommands(): void {
  program
    .command('runs')
    .addOption(new Option('--state <state>', 'only runs in this state').choices(runStates))
    .option('--limit <n>', 'at most this many runs (1 to 500)', '20')
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .option('--server <url>', 'the server')
    .description('runs of a running server, newest first')
    .action(async (options: { state?: RunState; limit: string; cursor?: string; server?: string }) => {
      const page = await clientOf(options.server).runs({
        limit: Number(options.limit),
        ...(options.state ? { state: options.state } : {}),
        ...(options.cursor ? { cursor: options.cursor } : {}),
      });
      if (json()) return void say(JSON.stringify(page));
      say(`${'run'.padEnd(32)} ${'state'.padEnd(10)} ${'items'.padEnd(12)} ${'submitted'.padEnd(24)} name`);
      for (const run of page.runs)
        say(
          `${run.runId.padEnd(32)} ${run.state.padEnd(10)} ${`${run.itemsFinished}/${run.itemsTotal}${run.itemsFailed > 0 ? ` ${run.itemsFailed}✗` : ''}`.padEnd(12)} ${String(run['submittedAt']).padEnd(24)} ${run.name}`,
        );
      if (page.nextCursor) say(`more: cairn runs --cursor ${page.nextCursor}`);
    });
}
