import { taskEnvelopeSchema } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { runtimeEnvironment } from './runtime-environment.ts';

const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

test("the task's trace context reaches the runtime as TRACEPARENT and TRACESTATE, below the item's env and its secrets", () => {
  expect(runtimeEnvironment('/w', '/usr/bin', {}, {}, { traceparent, tracestate: 'vendor=abc' })).toEqual({
    PATH: '/usr/bin',
    HOME: '/w',
    LANG: 'C.UTF-8',
    TRACEPARENT: traceparent,
    TRACESTATE: 'vendor=abc',
  });
  expect(runtimeEnvironment('/w', '/usr/bin', {}, {}, { traceparent })).not.toHaveProperty('TRACESTATE');
  expect(runtimeEnvironment('/w', '/usr/bin', {}, {})).not.toHaveProperty('TRACEPARENT');
  // An item that names its own trace to join keeps it.
  const own = '00-11111111111111111111111111111111-2222222222222222-01';
  expect(runtimeEnvironment('/w', '/usr/bin', { TRACEPARENT: own }, {}, { traceparent }).TRACEPARENT).toBe(own);
});

test('a task envelope takes only a version 00 traceparent whose ids are not all zero', () => {
  const envelope = (traceContext: unknown) =>
    taskEnvelopeSchema.safeParse({ executionId: 'r/i/1', manifestDigest: `sha256:${'a'.repeat(64)}`, traceContext }).success;
  expect(envelope({ traceparent })).toBe(true);
  expect(envelope({ traceparent, tracestate: 'congo=t61rcWkgMzE' })).toBe(true);
  expect(envelope({ traceparent: traceparent.replace(/^00/, '01') })).toBe(false);
  expect(envelope({ traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` })).toBe(false);
  expect(envelope({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01` })).toBe(false);
  expect(envelope({ traceparent: traceparent.toUpperCase() })).toBe(false);
  expect(envelope({ traceparent, extra: 1 })).toBe(false);
});
