/** One row of the benchmark table (`pnpm bench --json` prints an array of these). */
export interface BenchmarkRow {
  name: string;
  value: number;
  unit: string;
  /** The goal in words, e.g. `>= 200000`; empty when the number is only recorded. */
  goal: string;
  /** Whether the goal was met; null when there is no goal. */
  ok: boolean | null;
}

export interface BenchmarkContext {
  log: (text: string) => void;
}

/** Times `work` once with a monotonic clock; returns milliseconds. */
export async function timeMilliseconds(work: () => unknown): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/**
 * Wall time and this process's CPU time (user + system, every thread) of `work`, in milliseconds.
 * On a shared machine the wall time follows the neighbours' load; the CPU time is what the work
 * itself cost.
 */
export async function wallAndCpu(work: () => unknown): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const wallMs = await timeMilliseconds(work);
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000 };
}

/** Builds a row whose goal is "value at least `minimum`". */
export function atLeast(name: string, value: number, unit: string, minimum: number): BenchmarkRow {
  return { name, value, unit, goal: `>= ${minimum}`, ok: value >= minimum };
}

/** Builds a row whose goal is "value at most `maximum`". */
export function atMost(name: string, value: number, unit: string, maximum: number): BenchmarkRow {
  return { name, value, unit, goal: `<= ${maximum}`, ok: value <= maximum };
}

/** Builds a row that only records a number. */
export function recorded(name: string, value: number, unit: string): BenchmarkRow {
  return { name, value, unit, goal: '', ok: null };
}

/**
 * Builds a row whose goal is "value at most `factor` times another row's value" (both measured in
 * the same run): a goal like "as fast with history as without" holds on any machine, where a
 * fixed number would not.
 */
export function atMostTimes(name: string, value: number, unit: string, baseline: Pick<BenchmarkRow, 'name' | 'value'>, factor: number): BenchmarkRow {
  const maximum = baseline.value * factor;
  return { name, value, unit, goal: `<= ${factor} × ${baseline.name} (${Number(maximum.toPrecision(3))})`, ok: value <= maximum };
}

/**
 * Builds a row whose goal is "value at least `factor` times another row's value" (both measured in
 * the same run): a rate that must hold its pace at a larger size, say.
 */
export function atLeastTimes(name: string, value: number, unit: string, baseline: Pick<BenchmarkRow, 'name' | 'value'>, factor: number): BenchmarkRow {
  const minimum = baseline.value * factor;
  return { name, value, unit, goal: `>= ${factor} × ${baseline.name} (${Number(minimum.toPrecision(3))})`, ok: value >= minimum };
}
