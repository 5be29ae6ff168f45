import type { AttemptFailure, JsonObject } from '@cairn/core';

/** A failure the engine itself observed: no runtime ended, so no exit code, signal or stderr. */
export function engineFailure(code: string, message: string): AttemptFailure {
  return { code, message, exitCode: null, signal: null, stderrTail: '' };
}

/** What the audit log and events carry of a failure: its code and rule, never its message or output. */
export function failureSummary(failure: AttemptFailure): JsonObject {
  return { code: failure.code, ...(failure.rule === undefined ? {} : { rule: failure.rule }) };
}
