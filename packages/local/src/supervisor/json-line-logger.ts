import type { Logger } from '@cairn/core';

/**
 * A logger writing one JSON object a line (pino's shape: time, level, msg, fields), for a process
 * with no server logger. A line that cannot be written (its disk is full) is dropped: a log must
 * never stop what it reports on.
 */
export function jsonLineLogger(write: (line: string) => void, base: Record<string, unknown> = {}): Logger {
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, message?: string): void => {
      try {
        write(`${JSON.stringify({ time: new Date().toISOString(), level, ...base, ...fields, ...(message === undefined ? {} : { msg: message }) })}\n`);
      } catch {
        // Dropped, as above.
      }
    };
  return { debug: () => {}, info: at('info'), warn: at('warn'), error: at('error') };
}
