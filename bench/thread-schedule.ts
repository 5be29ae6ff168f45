import { readdirSync, readFileSync } from 'node:fs';

/** What the scheduler says of one thread of this process so far (/proc/self/task/<tid>/schedstat). */
export interface ThreadSchedule {
  readonly tid: number;
  /** The thread's name (`node` for the main thread, `libuv-worker`, `V8Worker`, a worker's name). */
  readonly name: string;
  /** Time on a CPU, in milliseconds. */
  readonly cpuMs: number;
  /** Time runnable but waiting for a CPU (on a run queue), in milliseconds: what CPU load costs it. */
  readonly runQueueMs: number;
}

/**
 * Every thread of this process, as the scheduler accounts it: the difference of two readings says
 * where a span's wall time went that was not on a CPU — waiting for one (the run queue, a busy
 * machine) or blocked (an fsync, an idle event loop), which `wall − cpu − run queue` leaves.
 */
export function readThreadSchedules(): ThreadSchedule[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      // "run time (ns) run-queue wait (ns) timeslices" (Documentation/scheduler/sched-stats.rst).
      const [onCpu, waiting] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      return [{ tid: Number(tid), name, cpuMs: onCpu! / 1e6, runQueueMs: waiting! / 1e6 }];
    } catch {
      // A thread that ended between the listing and the read.
      return [];
    }
  });
}

/** Per thread name, what each thread did between `before` and `after` (threads started since count from zero). */
export function scheduleBetween(
  before: readonly ThreadSchedule[],
  after: readonly ThreadSchedule[],
): Record<string, { threads: number; cpuMs: number; runQueueMs: number }> {
  const earlier = new Map(before.map((thread) => [thread.tid, thread]));
  const byName: Record<string, { threads: number; cpuMs: number; runQueueMs: number }> = {};
  for (const thread of after) {
    const start = earlier.get(thread.tid);
    const entry = (byName[thread.name] ??= { threads: 0, cpuMs: 0, runQueueMs: 0 });
    entry.threads++;
    entry.cpuMs += thread.cpuMs - (start?.cpuMs ?? 0);
    entry.runQueueMs += thread.runQueueMs - (start?.runQueueMs ?? 0);
  }
  for (const entry of Object.values(byName)) {
    entry.cpuMs = Math.round(entry.cpuMs);
    entry.runQueueMs = Math.round(entry.runQueueMs);
  }
  return byName;
}
