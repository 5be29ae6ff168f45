import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The argv that runs `script` (a file of bench/) with `args` in a Node of its own: the same node
 * and import conditions as this process, so the child loads the packages we do (dist by
 * default); other flags (an inspector port) stay with the parent. `flags` are node's own.
 */
export function childNodeArgv(flags: readonly string[], script: string, args: readonly string[]): string[] {
  const conditions = process.execArgv.flatMap((flag, index, all) =>
    /^(--conditions|-C)=/.test(flag) ? [flag] : flag === '--conditions' || flag === '-C' ? [flag, all[index + 1]!] : [],
  );
  return [process.execPath, ...flags, ...conditions, join(dirname(fileURLToPath(import.meta.url)), script), ...args];
}

/** The last line a child printed, parsed as JSON (its report). */
export function lastJsonLine<Report>(output: string): Report {
  return JSON.parse(output.trim().split('\n').at(-1)!) as Report;
}
