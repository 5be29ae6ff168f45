// The disk under the work root (where each attempt's sparse workspace image lives) filling up: an
// attempt does not begin on it but waits for room, and an item whose writes the image could not
// take fails at once saying the host's disk is full — never a silent loss, an ext4 I/O error, or a
// hang. Real sandboxes, a real tmpfs under the work root, real loop mounts.
import { chmodSync, readFileSync, statfsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AttemptFailure, ExecutionHandle, ExecutionStatus } from '@cairn/core';
import { resultKey } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { createLocalExecutor, type LocalExecutor } from './local-executor.ts';
import { executorWorld } from './local-executor.test-support.ts';

const disk = useSmallFileSystem(32);
const mebibyte = 1024 * 1024;
const limits = { timeoutMs: 60_000, network: false, maxPatchBytes: 10_000_000, maxLogBytes: 1_000_000 };

async function exited(executor: LocalExecutor, handle: ExecutionHandle): Promise<ExecutionStatus> {
  let status = await executor.inspect(handle);
  for (let wait = 0; wait < 1_200 && status.state !== 'exited'; wait++) {
    await sleep(25);
    status = await executor.inspect(handle);
  }
  return status;
}

function mountsUnder(folder: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${folder}/`));
}

const freeBytes = () => {
  const stats = statfsSync(disk.path);
  return stats.bavail * stats.bsize;
};

test(
  'an item writing more into its workspace than the disk under the work root holds fails at once with CAIRN_ATTEMPT_HOST_DISK_FULL naming that disk, and leaves it as it was',
  { timeout: 60_000 },
  async () => {
    const world = executorWorld();
    try {
      chmodSync(disk.path, 0o711);
      const workRoot = join(disk.path, 'work');
      // The workspace may hold 4 GiB; the disk under its image 32 MiB. fsync makes the kernel write
      // the image now rather than within 30 s; the sleep is what must not be waited for.
      const executor = createLocalExecutor({ storage: world.storage, trustedKeys: [world.key], stateDirectory: world.stateDirectory, workRoot });
      const started = Date.now();
      const handle = await executor.start(
        world.task('run-1/writer/1', { kind: 'command', argv: ['/bin/sh', '-c', 'dd if=/dev/zero of=big bs=1M count=64 conv=fsync; sleep 600'] }, { limits }),
      );
      const status = await exited(executor, handle);
      const tookMs = Date.now() - started;
      expect(status).toMatchObject({ state: 'exited', outcome: 'failed' });
      const record = JSON.parse(new TextDecoder().decode((await world.storage.get(resultKey(handle.executionId)))!)) as {
        failure?: AttemptFailure;
        artifacts: { patch?: unknown };
      };
      expect(record.failure?.code).toBe('CAIRN_ATTEMPT_HOST_DISK_FULL');
      expect(record.failure!.message).toContain(`The disk holding the attempt's workspace image (${workRoot}/`);
      expect(record.failure!.message).toContain("the local executor's workRoot, executor.workRoot in the server config");
      // Nothing of a workspace that lost writes is kept.
      expect(record.artifacts.patch).toBeUndefined();
      expect(tookMs).toBeLessThan(20_000);
      // The image went with the attempt: the disk has its room back.
      expect(mountsUnder(workRoot)).toEqual([]);
      expect(freeBytes()).toBeGreaterThan(30 * mebibyte);
    } finally {
      world.cleanUp();
    }
  },
);

test('an attempt does not begin on a full work-root disk: it waits for room, then runs and succeeds', { timeout: 60_000 }, async () => {
  const world = executorWorld();
  try {
    chmodSync(disk.path, 0o711);
    const workRoot = join(disk.path, 'work');
    const executor = createLocalExecutor({ storage: world.storage, trustedKeys: [world.key], stateDirectory: world.stateDirectory, workRoot });
    const filler = join(disk.path, 'filler');
    disk.fill(filler);
    const handle = await executor.start(world.task('run-1/patient/1', { kind: 'command', argv: ['/bin/sh', '-c', 'printf x > made.txt'] }, { limits }));
    await sleep(1_500);
    // Waiting, not failed: nothing recorded, nothing mounted.
    expect(await executor.inspect(handle)).toEqual({ state: 'running' });
    expect(await world.storage.get(resultKey(handle.executionId))).toBeNull();
    expect(mountsUnder(workRoot)).toEqual([]);
    unlinkSync(filler);
    expect(await exited(executor, handle)).toMatchObject({ state: 'exited', outcome: 'succeeded' });
    const record = JSON.parse(new TextDecoder().decode((await world.storage.get(resultKey(handle.executionId)))!)) as { artifacts: { patch?: unknown } };
    expect(record.artifacts.patch).toBeDefined();
  } finally {
    world.cleanUp();
  }
});
