import { describe, expect, test } from 'vitest';
import { attemptFailureSchema, attemptFailureSummarySchema } from './attempt-failure-schema.ts';
import { cairnEventSchema } from './event-schema.ts';

describe('attemptFailureSchema', () => {
  test('a failure as older workers wrote it ({ code, message }) still reads: no exit code, signal or stderr', () => {
    expect(attemptFailureSchema.parse({ code: 'CAIRN_PAYLOAD_INVALID', message: 'refused' })).toEqual({
      code: 'CAIRN_PAYLOAD_INVALID',
      message: 'refused',
      exitCode: null,
      signal: null,
      stderrTail: '',
    });
  });

  test('a whole failure reads as it is; unknown fields, an empty code or rule, and a fractional exit code are refused', () => {
    const failure = { code: 'CAIRN_PAYLOAD_INVALID', message: 'refused', exitCode: 0, signal: null, rule: 'symlink-escape', stderrTail: 'x\n' };
    expect(attemptFailureSchema.parse(failure)).toEqual(failure);
    for (const bad of [
      { ...failure, secret: 'v' },
      { ...failure, code: '' },
      { ...failure, rule: '' },
      { ...failure, exitCode: 1.5 },
      { ...failure, rule: undefined },
    ]) {
      expect(attemptFailureSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  test('events carry only the code and rule of a failure, never its message', () => {
    expect(attemptFailureSummarySchema.safeParse({ code: 'CAIRN_EXIT_NONZERO', message: 'exit 1' }).success).toBe(false);
    const event = {
      type: 'attempt.state',
      id: 3,
      time: '2026-11-23T09:00:00.000Z',
      runId: 'r-1',
      itemId: 'build',
      attempt: 1,
      state: 'failed',
      failure: { code: 'CAIRN_PAYLOAD_INVALID', rule: 'secret' },
    };
    expect(cairnEventSchema.parse(event)).toEqual(event);
    expect(cairnEventSchema.safeParse({ ...event, failure: { code: 'CAIRN_PAYLOAD_INVALID', stderrTail: 'x' } }).success).toBe(false);
  });
});
