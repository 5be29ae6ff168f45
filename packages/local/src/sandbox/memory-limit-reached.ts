import { readFileSync, rmSync } from 'node:fs';
import { CairnError } from '@cairn/protocol';
import { sizeText } from './size-text.ts';

/** A sandbox's memory cgroup as its reaper left it (see SandboxCommandOptions.memoryReport). */
export interface MemoryReport {
  readonly limitBytes: number;
  /** The most the sandbox used at once (memory.max_usage_in_bytes): the limit itself when it was reached. */
  readonly peakBytes: number;
  /** Processes the kernel killed for the cgroup's limit (memory.oom_control's oom_kill). */
  readonly kills: number;
}

/** Reads the reaper's report at `path` and removes it; undefined when there is none (no cgroup, a reaper killed first). */
export function takeMemoryReport(path: string): MemoryReport | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  } finally {
    rmSync(path, { force: true });
  }
  const figures = new Map(text.split('\n').map((line): [string, string] => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]));
  const figure = (name: string) => Number(figures.get(name) ?? Number.NaN);
  const report = { limitBytes: figure('limit'), peakBytes: figure('peak'), kills: figure('kills') };
  return Object.values(report).every(Number.isSafeInteger) ? report : undefined;
}

/**
 * The failure of a sandbox the kernel killed a process of for its memory cgroup's limit
 * (CAIRN_ATTEMPT_MEMORY_EXCEEDED, with the limit and the peak), or undefined: no kill since
 * `killsBefore` (what a cgroup left over from an earlier sandbox had counted), or a runtime that
 * exited 0 all the same (a killed child it did without). Only a kill counts: a cgroup at its limit
 * also just evicts page cache, which a sandbox writing files does all the time.
 */
export function memoryLimitReached(
  report: MemoryReport | undefined,
  ended: { readonly exitCode: number | null; readonly signal: string | null },
  killsBefore = 0,
): CairnError | undefined {
  if (report === undefined || ended.exitCode === 0) return undefined;
  const kills = report.kills - killsBefore;
  if (kills <= 0) return undefined;
  const killed = kills === 1 ? 'one of its processes' : `${kills} of its processes`;
  const then = ended.exitCode === null ? `ended by ${ended.signal ?? 'a signal'}` : `exited with code ${ended.exitCode}`;
  return new CairnError(
    'CAIRN_ATTEMPT_MEMORY_EXCEEDED',
    `The sandbox reached its memory limit of ${sizeText(report.limitBytes)} (${report.limitBytes} bytes; its peak: ${report.peakBytes} bytes) and the kernel killed ${killed} for it; the runtime then ${then}. Raise the local executor's limits.memoryBytes (executor.limits.memoryBytes in the server config), or make the item use less memory.`,
    {
      path: 'local.executor.limits.memoryBytes',
      details: { limit: 'memory', limitBytes: report.limitBytes, peakBytes: report.peakBytes, processesKilled: kills },
    },
  );
}
