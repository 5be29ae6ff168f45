/** The columns of `cairn schedule list`, in order: the heading and how each is read from a schedule. */
const columns: readonly (readonly [heading: string, value: (schedule: Readonly<Record<string, unknown>>) => string])[] = [
  ['schedule', (schedule) => String(schedule['scheduleId'])],
  ['cron', (schedule) => String(schedule['cron'])],
  ['time zone', (schedule) => String(schedule['timeZone'] ?? 'UTC')],
  ['next slot', (schedule) => String(schedule['nextSlot'] ?? '-')],
];

/**
 * `cairn schedule list`'s table: a heading line, then a line per schedule, each column as wide as
 * its longest value (or heading), so long ids and time zones never push the next column out of line.
 */
export function scheduleListLines(schedules: readonly Readonly<Record<string, unknown>>[]): string[] {
  const rows = [columns.map(([heading]) => heading), ...schedules.map((schedule) => columns.map(([, value]) => value(schedule)))];
  const widths = columns.map((_, index) => Math.max(...rows.map((row) => row[index]!.length)));
  return rows.map((row) => row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index]!))).join('  '));
}
