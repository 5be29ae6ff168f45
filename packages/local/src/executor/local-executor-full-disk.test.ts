// A full disk under the executor's state directory must not kill the process hosting it (the
// server): a task that ends while its exit cannot be written keeps its exit, writes it once there
// is room, and only then tells the engine — never an unhandled rejection, never a lost exit.
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionStatus } from '@cairn/core';
import { expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { createLocalExecutor } from './local-executor.ts';
import { executorWorld } from './local-executor.test-support.ts';

const disk = useSmallFileSystem(1);

test(
  'a task that ends while the state directory is full keeps its exit and reports it once there is room, without an unhandled rejection',
  { timeout: 30_000 },
  async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const world = executorWorld();
    try {
      const executor = createLocalExecutor({
        storage: world.storage,
        trustedKeys: [world.key],
        stateDirectory: join(disk.path, 'state'),
        workRoot: world.workRoot,
        ...(process.getuid?.() === 0 ? {} : { sandbox: 'none' as const }),
      });
      const exits: ExecutionStatus[] = [];
      executor.onExit((_executionId, status) => exits.push(status));
      const handle = await executor.start(world.task('run-1/full/1', { kind: 'command', argv: ['sleep', '1'] }));
      disk.fill(join(disk.path, 'filler'));
      await sleep(2_500);
      // The task ended, but its exit is not written yet: it is not reported as exited (nor lost).
      expect(exits).toEqual([]);
      expect(await executor.inspect(handle)).toEqual({ state: 'running' });
      unlinkSync(join(disk.path, 'filler'));
      for (let wait = 0; wait < 200 && exits.length === 0; wait++) await sleep(25);
      expect(exits).toEqual([expect.objectContaining({ state: 'exited', outcome: 'succeeded' })]);
      expect(await executor.inspect(handle)).toMatchObject({ state: 'exited', outcome: 'succeeded' });
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      world.cleanUp();
    }
  },
);
