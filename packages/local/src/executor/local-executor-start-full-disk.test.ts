// A start whose supervisor cannot take its execution over because the disk under the state
// directory is full (here: out of inodes, so the executor's claim fits and the supervisor's state
// file does not): the start fails as a full disk, which the engine retries with the same execution
// id, and leaves no claim behind — a claim left saying "running under the server" made that retry
// start nothing, and the item read as running for as long as the server lived.
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionStatus } from '@cairn/core';
import { expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { createLocalExecutor } from './local-executor.ts';
import { executorWorld } from './local-executor.test-support.ts';

// The folder itself, two fillers, the claim (the state file) and the supervisor's log: the state
// file the supervisor writes to take the execution over is one file too many.
const disk = useSmallFileSystem(4, { inodes: 5 });

test(
  'a supervisor with no room to take its execution over fails the start as a full disk and leaves no claim; started again once there is room, the task runs',
  { timeout: 60_000 },
  async () => {
    const world = executorWorld();
    const fillers = [join(disk.path, 'filler-1'), join(disk.path, 'filler-2')];
    try {
      for (const filler of fillers) writeFileSync(filler, '');
      const executor = createLocalExecutor({ storage: world.storage, trustedKeys: [world.key], stateDirectory: disk.path, workRoot: world.workRoot });
      const task = world.task('run-1/late/1', { kind: 'command', argv: ['/bin/sh', '-c', 'printf x > made.txt'] });
      const refused = await executor.start(task).then(
        () => undefined,
        (error: unknown) => error as Error & { cause?: { code?: string } },
      );
      // Said as a full disk (what the engine waits out and starts again), not as the item's failure.
      expect(refused?.message).toContain('could not take it over: the disk under the state directory');
      expect(refused?.cause?.code).toBe('ENOSPC');
      expect(existsSync(join(disk.path, 'run-1~late~1.json'))).toBe(false);

      for (const filler of fillers) unlinkSync(filler);
      const handle = await executor.start(task);
      let status: ExecutionStatus = await executor.inspect(handle);
      for (let wait = 0; wait < 800 && status.state !== 'exited'; wait++) {
        await sleep(25);
        status = await executor.inspect(handle);
      }
      expect(status).toMatchObject({ state: 'exited', outcome: 'succeeded' });
    } finally {
      for (const filler of fillers) if (existsSync(filler)) unlinkSync(filler);
      world.cleanUp();
    }
  },
);
