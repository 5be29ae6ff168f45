import type { RunState } from '@cairn/core';
import { runStates } from '@cairn/protocol/lifecycle';
import { Option } from 'commander';
import { clientOf, json, program, say } from './cli-program.ts';

interface RunListCommandOptions {
  readonly state?: RunState;
  readonly name?: string;
  readonly submitter?: string;
  readonly submittedAfter?: string;
  readonly submittedBefore?: string;
  readonly limit: string;
  readonly cursor?: string;
  readonly server?: string;
}

/** The filter options, with the client option each sets. */
const filterOptions = [
  ['--state', 'state'],
  ['--name', 'name'],
  ['--submitter', 'submitter'],
  ['--submitted-after', 'submittedAfter'],
  ['--submitted-before', 'submittedBefore'],
] as const;

/** `value` as one shell word: as it is when it is plain, in single quotes otherwise. */
function shellQuoted(value: string): string {
  return /^[\w.:@+-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `cairn runs`: one page of the run history, newest first, as a table (or `--json`). */
export function addRunListCommands(): void {
  program
    .command('runs')
    .addOption(new Option('--state <state>', 'only runs in this state').choices(runStates))
    .option('--name <name>', 'only runs of exactly this name')
    .option('--submitter <actorId>', 'only runs submitted by this actor id (as the server shows it, e.g. token:ab12cd34ef56)')
    .option('--submitted-after <time>', 'only runs submitted at or after this RFC 3339 time (inclusive)')
    .option('--submitted-before <time>', 'only runs submitted before this RFC 3339 time (exclusive)')
    .option('--limit <n>', 'at most this many runs (1 to 500)', '20')
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .option('--server <url>', 'the server')
    .description('runs of a running server, newest first')
    .action(async (options: RunListCommandOptions) => {
      const filters = filterOptions.flatMap(([option, key]) => (options[key] === undefined ? [] : [[option, key, options[key]] as const]));
      const page = await (
        await clientOf(options.server)
      ).runs({
        limit: Number(options.limit),
        ...Object.fromEntries(filters.map(([, key, value]) => [key, value])),
        ...(options.cursor ? { cursor: options.cursor } : {}),
      });
      if (json()) return void say(JSON.stringify(page));
      say(`${'run'.padEnd(32)} ${'state'.padEnd(10)} ${'priority'} ${'items'.padEnd(12)} ${'submitted'.padEnd(24)} name`);
      for (const run of page.runs)
        say(
          `${run.runId.padEnd(32)} ${run.state.padEnd(10)} ${String(run.priority ?? '-').padEnd(8)} ${`${run.itemsFinished}/${run.itemsTotal}${run.itemsFailed > 0 ? ` ${run.itemsFailed}✗` : ''}`.padEnd(12)} ${String(run['submittedAt']).padEnd(24)} ${run.name}`,
        );
      // The next page needs the same filters: a cursor is refused with others.
      if (page.nextCursor)
        say(`more: cairn runs --cursor ${page.nextCursor}${filters.map(([option, , value]) => ` ${option} ${shellQuoted(value)}`).join('')}`);
    });
}
