// A full disk under the executor's state directory must not kill the process hosting it (the
// server): a task that ends while its exit cannot be written keeps its exit, writes it once there
// is room, and only then tells the engine — never an unhandled rejection, never a lost exit.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionStatus } from '@cairn/core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createLocalExecutor } from './local-executor.ts';
import { executorWorld } from './local-executor.test-support.ts';

let mountPoint: string;

beforeAll(() => {
  mountPoint = mkdtempSync(join(tmpdir(), 'cairn-state-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(`This test mounts a 1 MB tmpfs at ${mountPoint} to fill it, and needs root for that: ${String(error)}`);
  }
});

afterAll(() => {
  execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
  rmSync(mountPoint, { recursive: true, force: true });
});

function fillFileSystem(path: string): void {
  for (const size of [64 * 1024, 512, 1]) {
    const descriptor = openSync(path, 'a');
    try {
      for (;;) writeSync(descriptor, Buffer.alloc(size));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    } finally {
      closeSync(descriptor);
    }
  }
}

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
        stateDirectory: join(mountPoint, 'state'),
        workRoot: world.workRoot,
        ...(process.getuid?.() === 0 ? {} : { sandbox: 'none' as const }),
      });
      const exits: ExecutionStatus[] = [];
      executor.onExit((_executionId, status) => exits.push(status));
      const handle = await executor.start(world.task('run-1/full/1', { kind: 'command', argv: ['sleep', '1'] }));
      fillFileSystem(join(mountPoint, 'filler'));
      await sleep(2_500);
      // The task ended, but its exit is not written yet: it is not reported as exited (nor lost).
      expect(exits).toEqual([]);
      expect(await executor.inspect(handle)).toEqual({ state: 'running' });
      unlinkSync(join(mountPoint, 'filler'));
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
