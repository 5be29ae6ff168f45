import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { ExecutionHandle, ExecutionStatus, ExecutorV1 } from '@cairn/core';
import { executionHandleSchema, executionStatusSchema } from '@cairn/protocol';
import type { ConformanceCase, ConformanceCaseContext } from '../harness/conformance-case.ts';
import { describeError, expectCairnError } from '../harness/expect-cairn-error.ts';
import { expectSchema } from '../harness/expect-schema.ts';
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

/**
 * Inspects once and checks the answer's shape: a valid ExecutionStatus (the protocol schema),
 * with an `outcome` exactly when `exited`.
 */
async function inspectChecked(executor: ExecutorV1, handle: ExecutionHandle, what: string): Promise<ExecutionStatus> {
  let status: ExecutionStatus;
  try {
    status = await executor.inspect(handle);
  } catch (error) {
    fail(
      `${what}: inspect threw (${describeError(error)}); inspect of a well-formed handle of this executor answers a status, 'unknown' when it does not know the task`,
    );
  }
  expectSchema(executionStatusSchema, status, 'ExecutionStatus', `${what}: inspect answered ${JSON.stringify(status)}`);
  if ((status.state === 'exited') !== (status.outcome !== undefined)) {
    fail(`${what}: inspect answered ${JSON.stringify(status)}; an outcome is set exactly when the state is exited`);
  }
  return status;
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
  let status = await inspectChecked(executor, handle, what);
  while (!done(status)) {
    if (Date.now() > deadline) fail(`${what}: still ${JSON.stringify(status)} after ${context.options.settleTimeoutMs ?? 5_000} ms`);
    await sleep(context.options.pollIntervalMs ?? 20);
    status = await inspectChecked(executor, handle, what);
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

/** Cases that need `cancel` to stop a running task (without the capability it waits for the timeout). */
const cancels = { capability: { name: 'cancel', declared: (instance: ExecutorV1) => instance.capabilities.cancel } };

/** The ExecutorV1 cases, in registration order; exported for meta-tests. */
export const executorCases: readonly ExecutorCase[] = [
  {
    id: 'pushes-exit',
    title: 'onExit is there exactly with pushesCompletions, and reports each exit once with the status inspect gives, until unsubscribed',
    async run(context) {
      // The interface promises onExit exactly when the capability says so: an engine relies on either answer.
      if (!context.instance.capabilities.pushesCompletions) {
        expect(context.instance.onExit, 'onExit without pushesCompletions').toBeUndefined();
        return;
      }
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
      const envelope = context.options.task({ kind: 'succeed' }, id);
      const first = await context.instance.start(envelope);
      const [second, third] = await Promise.all([context.instance.start(envelope), context.instance.start(envelope)]);
      expect(second, 'second start').toEqual(first);
      expect(third, 'concurrent start').toEqual(first);
      await waitForExit(context, context.instance, first, 'the task');
      const again = await context.instance.start(envelope);
      expect(again, 'start after the task ended').toEqual(first);
      await sleep(50);
      expect(await context.oracle!.runCount(id), 'runs seen by the oracle').toBe(1);
    },
  },
  {
    id: 'handle-is-json',
    title: 'the handle is plain JSON naming the executor (its provider) and the execution id; a parsed copy inspects the same execution',
    async run(context) {
      const id = executionId();
      const handle = await context.instance.start(context.options.task({ kind: 'succeed' }, id));
      expectSchema(executionHandleSchema, handle, 'ExecutionHandle (plain JSON)', 'the handle start returned');
      expect(handle.executor, 'handle.executor is the executor’s provider').toBe(context.instance.provider);
      expect(handle.executionId, 'handle.executionId is the task’s').toBe(id);
      const copy = persisted(handle);
      expect(copy, 'a JSON round trip keeps every field as it was').toStrictEqual({ ...handle });
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
    needs: cancels,
    async run(context) {
      const id = executionId();
      const handle = await context.instance.start(context.options.task({ kind: 'run-until-cancelled' }, id));
      await waitForRunning(context, context.instance, handle, id);
      const stored = persisted(handle);
      await withRestart(context, async (restarted) => {
        expect((await inspectChecked(restarted, stored, 'after restart')).state, 'state seen after restart').toBe('running');
        await restarted.cancel(stored);
        const status = await waitForExit(context, restarted, stored, 'cancel after restart');
        expect(status.outcome).toBe('cancelled');
      });
    },
  },
  {
    id: 'cancel-running',
    title: 'cancel of a running task ends it as cancelled',
    needs: cancels,
    async run(context) {
      const id = executionId();
      const handle = await context.instance.start(context.options.task({ kind: 'run-until-cancelled' }, id));
      await waitForRunning(context, context.instance, handle, id);
      await context.instance.cancel(handle);
      const status = await waitForExit(context, context.instance, handle, 'a cancelled task');
      expect(status.outcome).toBe('cancelled');
      await context.instance.cancel(handle);
      expect((await inspectChecked(context.instance, handle, 'after a second cancel')).outcome, 'a second cancel changes nothing').toBe('cancelled');
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
      const status = await inspectChecked(context.instance, handle, 'after cancelling a finished task');
      expect(status.state).toBe('exited');
      expect(status.outcome).toBe('succeeded');
    },
  },
  {
    id: 'exited-is-final',
    title:
      'once exited (succeeded, failed, and with the cancel capability cancelled), inspect gives the same status every time: later, after cancel, and from a restarted instance',
    async run(context) {
      const finished: [string, ExecutionHandle][] = [
        ['a succeeded task', await context.instance.start(context.options.task({ kind: 'succeed' }, executionId()))],
        ['a failed task', await context.instance.start(context.options.task({ kind: 'fail', exitCode: 3 }, executionId()))],
      ];
      if (context.instance.capabilities.cancel) {
        const cancelledId = executionId();
        const cancelled = await context.instance.start(context.options.task({ kind: 'run-until-cancelled' }, cancelledId));
        await waitForRunning(context, context.instance, cancelled, cancelledId);
        await context.instance.cancel(cancelled);
        finished.push(['a cancelled task', cancelled]);
      }
      const first = new Map<string, ExecutionStatus>();
      for (const [what, handle] of finished) first.set(what, await waitForExit(context, context.instance, handle, what));
      await sleep(context.options.pollIntervalMs ?? 20);
      const expectUnchanged = async (executor: ExecutorV1, when: string) => {
        for (const [what, handle] of finished) {
          expect(await inspectChecked(executor, persisted(handle), `${what} ${when}`), `${what} ${when}`).toStrictEqual(first.get(what));
        }
      };
      await expectUnchanged(context.instance, 'inspected again');
      await expectUnchanged(context.instance, 'inspected a third time');
      for (const [, handle] of finished) await context.instance.cancel(handle);
      await expectUnchanged(context.instance, 'after cancel');
      await withRestart(context, (restarted) => expectUnchanged(restarted, 'after a restart'));
    },
  },
  {
    id: 'cancel-unknown-harmless',
    title: "a well-formed handle the executor does not know: inspect answers 'unknown' (before and after cancel, also after a restart), cancel resolves",
    async run(context) {
      const handle = await context.instance.start(context.options.task({ kind: 'succeed' }, executionId()));
      await waitForExit(context, context.instance, handle, 'the task');
      const unknown = { ...persisted(handle), executionId: executionId() };
      expect((await inspectChecked(context.instance, unknown, 'an unknown handle')).state, 'inspect of an unknown handle').toBe('unknown');
      await context.instance.cancel(unknown);
      await context.instance.cancel(unknown);
      expect((await inspectChecked(context.instance, unknown, 'an unknown handle')).state, 'inspect after cancel').toBe('unknown');
      await withRestart(context, async (restarted) => {
        expect((await inspectChecked(restarted, unknown, 'an unknown handle after a restart')).state, 'inspect after a restart').toBe('unknown');
      });
      if (context.oracle) expect(await context.oracle.runCount(unknown.executionId), 'nothing ran for the unknown handle').toBe(0);
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
