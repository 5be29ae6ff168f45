import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { ExecutionHandle, ExecutionStatus, ExecutorV1 } from '@cairn/core';
import type { ConformanceCase, ConformanceCaseContext } from '../harness/conformance-case.ts';
import { expectCairnError } from '../harness/expect-cairn-error.ts';
import { fail } from '../harness/fail.ts';
import type { ExecutorOracle } from './executor-oracle.ts';
import type { ExecutorSuiteOptions } from './executor-suite-options.ts';

/** One executor case. */
export type ExecutorCase = ConformanceCase<ExecutorV1, ExecutorOracle, ExecutorSuiteOptions>;
type Context = ConformanceCaseContext<ExecutorV1, ExecutorOracle, ExecutorSuiteOptions>;

const handleInvalid = 'CAIRN_EXECUTOR_HANDLE_INVALID';

function executionId(): string {
  return `conformance-${randomUUID()}`;
}

/** Inspects until `done(status)` holds, failing with the last status after the settle timeout. */
async function waitFor(
  context: Context,
  executor: ExecutorV1,
  handle: ExecutionHandle,
  done: (status: ExecutionStatus) => boolean,
  what: string,
): Promise<ExecutionStatus> {
  const deadline = Date.now() + (context.options.settleTimeoutMs ?? 5_000);
  let status = await executor.inspect(handle);
  while (!done(status)) {
    if (Date.now() > deadline) fail(`${what}: still ${JSON.stringify(status)} after ${context.options.settleTimeoutMs ?? 5_000} ms`);
    await sleep(context.options.pollIntervalMs ?? 20);
    status = await executor.inspect(handle);
  }
  return status;
}

function waitForExit(context: Context, executor: ExecutorV1, handle: ExecutionHandle, what: string): Promise<ExecutionStatus> {
  return waitFor(context, executor, handle, (status) => status.state === 'exited', what);
}

/** Waits until the task body is running: through the oracle when given, else through inspect. */
async function waitForRunning(context: Context, executor: ExecutorV1, handle: ExecutionHandle, id: string): Promise<void> {
  await waitFor(context, executor, handle, (status) => status.state === 'running' || status.state === 'exited', 'waiting for running');
  if (!context.oracle) return;
  const deadline = Date.now() + (context.options.settleTimeoutMs ?? 5_000);
  while ((await context.oracle.runCount(id)) < 1) {
    if (Date.now() > deadline) fail('inspect says running but the oracle saw no run start');
    await sleep(context.options.pollIntervalMs ?? 20);
  }
}

/** A JSON copy of a handle: all that survives a restart (it is what the engine stores). */
function persisted(handle: ExecutionHandle): ExecutionHandle {
  return JSON.parse(JSON.stringify(handle)) as ExecutionHandle;
}

/** Runs `body` with a restarted instance and cleans that instance up afterwards. */
async function withRestart(context: Context, body: (restarted: ExecutorV1) => Promise<void>): Promise<void> {
  const restarted = await context.options.restart(context.instance);
  expect(restarted, 'restart returns a new instance, not the same object').not.toBe(context.instance);
  try {
    await body(restarted);
  } finally {
    await context.options.cleanup?.(restarted);
  }
}

/** The ExecutorV1 cases, in registration order; exported for meta-tests. */
export const executorCases: readonly ExecutorCase[] = [
  {
    id: 'pushes-exit',
    title: 'with pushesCompletions, onExit reports each exit once with the status inspect gives, until unsubscribed',
    needs: { capability: { name: 'pushesCompletions', declared: (instance) => instance.capabilities.pushesCompletions } },
    async run(context) {
      if (typeof context.instance.onExit !== 'function') fail('declares pushesCompletions but has no onExit method');
      const heard: [string, ExecutionStatus][] = [];
      const unsubscribe = context.instance.onExit((id, status) => void heard.push([id, status]));
      const id = executionId();
      const handle = await context.instance.start(context.options.task({ kind: 'succeed' }, id));
      const status = await waitForExit(context, context.instance, handle, 'a succeeding task');
      for (let wait = 0; wait < 50 && heard.length === 0; wait++) await sleep(10);
      expect(heard, 'one exit heard for the task').toEqual([[id, status]]);
      unsubscribe();
      const second = await context.instance.start(context.options.task({ kind: 'succeed' }, executionId()));
      await waitForExit(context, context.instance, second, 'a second task');
      expect(heard, 'nothing heard after unsubscribing').toHaveLength(1);
    },
  },
  {
    id: 'runs-to-success',
    title: 'start, then inspect until exited: outcome succeeded with exit code 0',
    async run(context) {
      const id = executionId();
      const handle = await context.instance.start(context.options.task({ kind: 'succeed' }, id));
      const status = await waitForExit(context, context.instance, handle, 'a succeeding task');
      expect(status.outcome).toBe('succeeded');
      expect(status.exitCode).toBe(0);
      if (context.oracle) expect(await context.oracle.runCount(id), 'runs seen by the oracle').toBe(1);
    },
  },
  {
    id: 'failing-task',
    title: 'a failing task ends as failed with its exit code',
    async run(context) {
      const handle = await context.instance.start(context.options.task({ kind: 'fail', exitCode: 3 }, executionId()));
      const status = await waitForExit(context, context.instance, handle, 'a failing task');
      expect(status.outcome).toBe('failed');
      expect(status.exitCode).toBe(3);
    },
  },
  {
    id: 'start-idempotent',
    title: 'start is idempotent per execution id: same handle every time, the task runs once (oracle)',
    needs: { oracle: true },
    async run(context) {
      const id = executionId();
      const request = context.options.task({ kind: 'succeed' }, id);
      const first = await context.instance.start(request);
      const [second, third] = await Promise.all([context.instance.start(request), context.instance.start(request)]);
      expect(second, 'second start').toEqual(first);
      expect(third, 'concurrent start').toEqual(first);
      await waitForExit(context, context.instance, first, 'the task');
      const again = await context.instance.start(request);
      expect(again, 'start after the task ended').toEqual(first);
      await sleep(50);
      expect(await context.oracle!.runCount(id), 'runs seen by the oracle').toBe(1);
    },
  },
  {
    id: 'handle-is-json',
    title: 'the handle is plain JSON: a parsed copy inspects the same execution',
    async run(context) {
      const handle = await context.instance.start(context.options.task({ kind: 'succeed' }, executionId()));
      const copy = persisted(handle);
      expect(copy).toEqual(handle);
      const status = await waitForExit(context, context.instance, copy, 'inspect through a JSON copy');
      expect(status.outcome).toBe('succeeded');
    },
  },
  {
    id: 'restart-inspect',
    title: 'after a restart, a new instance inspects a task from its persisted handle alone',
    async run(context) {
      const id = executionId();
      const stored = persisted(await context.instance.start(context.options.task({ kind: 'succeed' }, id)));
      await withRestart(context, async (restarted) => {
        const status = await waitForExit(context, restarted, stored, 'inspect after restart');
        expect(status.outcome).toBe('succeeded');
        expect(status.exitCode).toBe(0);
        const restartedHandle = await restarted.start(context.options.task({ kind: 'succeed' }, id));
        expect(restartedHandle, 'start after restart returns the same handle').toEqual(stored);
        if (context.oracle) expect(await context.oracle.runCount(id), 'the restart did not run it again').toBe(1);
      });
    },
  },
  {
    id: 'restart-cancel',
    title: 'after a restart, a new instance sees a running task as running and can cancel it',
    async run(context) {
      const id = executionId();
      const handle = await context.instance.start(context.options.task({ kind: 'run-until-cancelled' }, id));
      await waitForRunning(context, context.instance, handle, id);
      const stored = persisted(handle);
      await withRestart(context, async (restarted) => {
        expect((await restarted.inspect(stored)).state, 'state seen after restart').toBe('running');
        await restarted.cancel(stored);
        const status = await waitForExit(context, restarted, stored, 'cancel after restart');
        expect(status.outcome).toBe('cancelled');
      });
    },
  },
  {
    id: 'cancel-running',
    title: 'cancel of a running task ends it as cancelled',
    async run(context) {
      const id = executionId();
      const handle = await context.instance.start(context.options.task({ kind: 'run-until-cancelled' }, id));
      await waitForRunning(context, context.instance, handle, id);
      await context.instance.cancel(handle);
      const status = await waitForExit(context, context.instance, handle, 'a cancelled task');
      expect(status.outcome).toBe('cancelled');
      await context.instance.cancel(handle);
      expect((await context.instance.inspect(handle)).outcome, 'a second cancel changes nothing').toBe('cancelled');
    },
  },
  {
    id: 'cancel-finished-harmless',
    title: 'cancel of a finished task resolves and leaves its outcome as it was',
    async run(context) {
      const handle = await context.instance.start(context.options.task({ kind: 'succeed' }, executionId()));
      await waitForExit(context, context.instance, handle, 'the task');
      await context.instance.cancel(handle);
      await context.instance.cancel(handle);
      const status = await context.instance.inspect(handle);
      expect(status.state).toBe('exited');
      expect(status.outcome).toBe('succeeded');
    },
  },
  {
    id: 'cancel-unknown-harmless',
    title: "cancel of a well-formed but unknown handle resolves; inspect reports it as 'unknown'",
    async run(context) {
      const handle = await context.instance.start(context.options.task({ kind: 'succeed' }, executionId()));
      await waitForExit(context, context.instance, handle, 'the task');
      const unknown = { ...persisted(handle), executionId: executionId() };
      await context.instance.cancel(unknown);
      expect((await context.instance.inspect(unknown)).state).toBe('unknown');
    },
  },
  {
    id: 'malformed-handle',
    title: `inspect and cancel refuse a malformed handle with ${handleInvalid}`,
    async run(context) {
      const handle = persisted(await context.instance.start(context.options.task({ kind: 'succeed' }, executionId())));
      const malformed: [string, unknown][] = [
        ['null', null],
        ['a string', 'conformance'],
        ['an empty object', {}],
        ['a handle of another executor', { ...handle, executor: 'conformance-other-executor' }],
        ['a numeric execution id', { ...handle, executionId: 42 }],
        ['an empty execution id', { ...handle, executionId: '' }],
      ];
      for (const [what, value] of malformed) {
        await expectCairnError(() => context.instance.inspect(value as ExecutionHandle), handleInvalid, `inspect(${what})`);
        await expectCairnError(() => context.instance.cancel(value as ExecutionHandle), handleInvalid, `cancel(${what})`);
      }
    },
  },
];
