import { addRemoveCommand, clientOf, json, program, readInputFile, say } from './cli-program.ts';
import { scheduleListLines } from './schedule-lines.ts';
import { collectParameter } from './template-commands.ts';

/** `cairn schedule add|list|rm`: cron schedules of a running server. */
export function addScheduleCommands(): void {
  const schedule = program.command('schedule').description('cron schedules of a running server');
  const add = schedule
    .command('add')
    .description('add a schedule: each slot submits the spec (or the template, filled now) as run <id>@<slot time>')
    .argument('[spec]', 'the run spec each slot submits (or give --template)')
    .option('--template <name>', "instead of a spec: a template of the server's config, filled and checked now; every slot submits that spec")
    .option('-p, --param <name=value>', 'a parameter of the template, as a string (repeat for each)', collectParameter)
    .requiredOption('--id <scheduleId>', 'the schedule id (runs are <id>@<slot time>)')
    .requiredOption('--cron <expression>', 'a cron expression, e.g. "0 9 * * 1-5"')
    .option('--time-zone <zone>', 'an IANA time zone (default UTC)')
    .option('--catch-up <policy>', 'skip (default), latest, or all:<n>')
    .option('--overlap <policy>', 'skip (default), allow, or cancel-previous')
    .option('--server <url>', 'the server');
  add.action(async (file: string | undefined, options: ScheduleAddOptions) => {
    if ((file === undefined) === (options.template === undefined))
      add.error('error: give a run spec file or --template NAME (with its --param name=value), not both or neither.');
    if (options.template === undefined && options.param !== undefined) add.error('error: --param fills a template: give --template NAME with it.');
    const catchUp = options.catchUp?.startsWith('all:') ? { all: Number(options.catchUp.slice(4)) } : options.catchUp;
    const added = await (
      await clientOf(options.server)
    ).addSchedule({
      scheduleId: options.id,
      cron: options.cron,
      ...(file === undefined
        ? { template: { name: options.template!, parameters: options.param ?? {} } }
        : { spec: (await import('@cairn/protocol/spec')).decodeRunSpec(readInputFile(file, 'the run spec'), file) }),
      ...(options.timeZone ? { timeZone: options.timeZone } : {}),
      ...(catchUp ? { catchUp } : {}),
      ...(options.overlap ? { overlap: options.overlap } : {}),
    });
    say(json() ? JSON.stringify(added) : `schedule ${options.id} added; next slot ${String(added['nextSlot'])}`);
  });
  schedule
    .command('list')
    .description('the schedules and their next slots')
    .option('--server <url>', 'the server')
    .action(async (options: { server?: string }) => {
      const schedules = await (await clientOf(options.server)).schedules();
      if (json()) return void say(JSON.stringify(schedules));
      for (const line of scheduleListLines(schedules)) say(line);
    });
  addRemoveCommand(schedule, 'schedule', ['<scheduleId>', 'the schedule id'], 'remove a schedule (the runs it made stay)', (cairn, id) =>
    cairn.removeSchedule(id),
  );
}

interface ScheduleAddOptions {
  readonly id: string;
  readonly cron: string;
  readonly template?: string;
  /** Absent when no --param is given (no default, so the help shows none). */
  readonly param?: Record<string, string>;
  readonly timeZone?: string;
  readonly catchUp?: string;
  readonly overlap?: string;
  readonly server?: string;
}
