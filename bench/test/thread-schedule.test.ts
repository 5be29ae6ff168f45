import { expect, test } from 'vitest';
import { readThreadSchedules, scheduleBetween } from '../thread-schedule.ts';

test("a span's CPU shows on the thread that spent it, counted as the kernel counts this process's CPU", () => {
  const before = readThreadSchedules();
  expect(before.map((thread) => thread.tid)).toContain(process.pid);
  // Spins until the process has used 150 ms of CPU, however long that takes on a busy machine.
  const cpu = process.cpuUsage();
  while (process.cpuUsage(cpu).user < 150_000);
  const used = process.cpuUsage(cpu);
  const after = readThreadSchedules();
  const main = after.find((thread) => thread.tid === process.pid)!;
  const spans = scheduleBetween(before, after);
  const mainSpan = spans[main.name]!;
  // The main thread spent nearly all of it (V8's helpers may have spent a little of the rest).
  expect(mainSpan.cpuMs).toBeGreaterThanOrEqual(120);
  expect(mainSpan.cpuMs).toBeLessThanOrEqual((used.user + used.system) / 1000 + 20);
  expect(mainSpan.runQueueMs).toBeGreaterThanOrEqual(0);
  expect(Object.values(spans).reduce((sum, span) => sum + span.threads, 0)).toBe(after.length);
});
