import { decodeRunSpec } from '@cairn/protocol';
import { addRemoveCommand, clientOf, json, program, readInputFile, say } from './cli-program.ts';
import { scheduleListLines } from './schedule-lines.ts';

/** `cairn schedule add|list|rm`: cron schedules of a running server. */
export function addScheduleCommands(): void {
  const schedule = program.command('schedule').description('cron schedules of a running server');
  schedule
    .command('add')
    .description('add a schedule: each slot submits the spec as run <id>@<slot time>')
    .argument('<spec>', 'the run spec each slot submits')
    .requiredOption('--id <scheduleId>', 'the schedule id (runs are <id>@<slot time>)')
    .requiredOption('--cron <expression>', 'a cron expression, e.g. "0 9 * * 1-5"')
    .option('--time-zone <zone>', 'an IANA time zone (default UTC)')
    .option('--catch-up <policy>', 'skip (default), latest, or all:<n>')
    .option('--overlap <policy>', 'skip (default), allow, or cancel-previous')
    .option('--server <url>', 'the server')
    .action(async (file: string, options: { id: string; cron: string; timeZone?: string; catchUp?: string; overlap?: string; server?: string }) => {
      const catchUp = options.catchUp?.startsWith('all:') ? { all: Number(options.catchUp.slice(4)) } : options.catchUp;
      const added = await clientOf(options.server).addSchedule({
        scheduleId: options.id,
        cron: options.cron,
        spec: decodeRunSpec(readInputFile(file, 'the run spec'), file),
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
      const schedules = await clientOf(options.server).schedules();
      if (json()) return void say(JSON.stringify(schedules));
      for (const line of scheduleListLines(schedules)) say(line);
    });
  addRemoveCommand(schedule, 'schedule', ['<scheduleId>', 'the schedule id'], 'remove a schedule (the runs it made stay)', (cairn, id) =>
    cairn.removeSchedule(id),
  );
}
