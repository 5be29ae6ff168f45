// An item over one of its sandbox's limits — memory, what its workspace may hold, what /tmp may
// hold — fails saying which limit it reached, how large it is and which setting raises it, as a
// timeout says it timed out: never a bare "exit 137". Real sandboxes, real cgroups, real mounts:
// the figures asserted are the kernel's.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AttemptFailure, DispatchManifest, ExecutionHandle, ExecutionStatus, RuntimeSpec } from '@cairn/core';
import { blobKey, sha256Digest } from '@cairn/protocol';
import { writeTar } from '@cairn/protocol/workspace';
import { expect, test } from 'vitest';
import { createLocalExecutor, type LocalExecutor, type LocalExecutorSettings } from './local-executor.ts';
import { executorWorld } from './local-executor.test-support.ts';
import type { ExecutionState } from './execution-state.ts';

const mebibyte = 1024 * 1024;
type World = ReturnType<typeof executorWorld>;

const settingsOf = (world: World, limits: LocalExecutorSettings['limits']): LocalExecutorSettings => ({
  storage: world.storage,
  trustedKeys: [world.key],
  stateDirectory: world.stateDirectory,
  workRoot: world.workRoot,
  limits,
});

/** A manifest limit well past what any of these items needs: one that ends by it has not been stopped for its limit. */
const generousTimeout: Partial<DispatchManifest> = { limits: { timeoutMs: 30_000, network: false, maxPatchBytes: 10_000_000, maxLogBytes: 1_000_000 } };

async function exited(executor: LocalExecutor, handle: ExecutionHandle): Promise<ExecutionStatus> {
  let status = await executor.inspect(handle);
  for (let wait = 0; wait < 1_600 && status.state !== 'exited'; wait++) {
    await sleep(25);
    status = await executor.inspect(handle);
  }
  return status;
}

/** Runs `runtime` as an item on `executor`; its status, its result's failure, and how long it took. */
async function runItem(world: World, executor: LocalExecutor, executionId: string, runtime: RuntimeSpec, overrides: Partial<DispatchManifest> = {}) {
  const started = Date.now();
  const status = await exited(executor, await executor.start(world.task(executionId, runtime, { ...generousTimeout, ...overrides })));
  const record = JSON.parse(new TextDecoder().decode((await world.storage.get(`results/${executionId}.json`))!)) as { failure?: AttemptFailure };
  return { status, failure: record.failure, tookMs: Date.now() - started };
}

/** The mount points under `folder` in this process's namespace (the supervisors' are the same). */
function mountsUnder(folder: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${folder}/`));
}

test('an item over its memory limit fails with CAIRN_ATTEMPT_MEMORY_EXCEEDED, naming the limit, the peak and the setting', { timeout: 60_000 }, async () => {
  const world = executorWorld();
  try {
    const executor = createLocalExecutor(settingsOf(world, { memoryBytes: 64 * mebibyte }));
    // `tail -n 1` keeps its whole line, and 100 MB of zeros is one line: it grows until it is killed.
    const { status, failure } = await runItem(world, executor, 'run-1/hog/1', {
      kind: 'command',
      argv: ['/bin/sh', '-c', 'head -c 100000000 /dev/zero | tail -n 1 > /dev/null'],
    });
    expect(status).toMatchObject({ state: 'exited', outcome: 'failed' });
    expect(failure).toMatchObject({ code: 'CAIRN_ATTEMPT_MEMORY_EXCEEDED', exitCode: 137 });
    expect(failure!.message).toContain('memory limit of 64 MiB (67108864 bytes; its peak: ');
    expect(failure!.message).toContain("the local executor's limits.memoryBytes (executor.limits.memoryBytes in the server config)");
    // The peak is the kernel's: the cgroup was full when the kernel killed the process.
    const peak = Number(/its peak: (\d+) bytes/.exec(failure!.message)?.[1]);
    expect(peak).toBeGreaterThan(60 * mebibyte);
    expect(peak).toBeLessThanOrEqual(64 * mebibyte);
  } finally {
    world.cleanUp();
  }
});

test('an item whose runtime exits non-zero without reaching its memory limit still fails with its exit code', { timeout: 30_000 }, async () => {
  const world = executorWorld();
  try {
    const executor = createLocalExecutor(settingsOf(world, { memoryBytes: 64 * mebibyte }));
    const { failure } = await runItem(world, executor, 'run-1/plain/1', { kind: 'command', argv: ['/bin/sh', '-c', 'exit 137'] });
    expect(failure).toMatchObject({ code: 'CAIRN_EXIT_NONZERO', exitCode: 137 });
  } finally {
    world.cleanUp();
  }
});

test(
  'an item writing past its workspace limit is stopped at once and fails with CAIRN_ATTEMPT_DISK_EXCEEDED, naming the workspace, the limit and the setting',
  { timeout: 60_000 },
  async () => {
    const world = executorWorld();
    try {
      const executor = createLocalExecutor(settingsOf(world, { workspaceBytes: 32 * mebibyte }));
      // 64 MiB into a 32 MiB workspace, then on as if nothing happened: the attempt must not wait for its timeout.
      const { status, failure, tookMs } = await runItem(world, executor, 'run-1/filler/1', {
        kind: 'command',
        argv: ['/bin/sh', '-c', 'dd if=/dev/zero of=big bs=1M count=64; sleep 600'],
      });
      expect(status).toMatchObject({ state: 'exited', outcome: 'failed' });
      expect(failure?.code).toBe('CAIRN_ATTEMPT_DISK_EXCEEDED');
      expect(failure!.message).toContain('The workspace is full: it reached its disk limit of 32 MiB (33554432 bytes;');
      expect(failure!.message).toContain("Raise the local executor's limits.workspaceBytes (executor.limits.workspaceBytes in the server config)");
      // The kernel refused the writes past it (dd said so), and the item was stopped: its sleep never ended by itself.
      expect(failure!.stderrTail).toContain('No space left on device');
      expect(tookMs).toBeLessThan(15_000);
      expect(mountsUnder(world.workRoot)).toEqual([]);
    } finally {
      world.cleanUp();
    }
  },
);

test('an item filling /tmp past its limit fails with CAIRN_ATTEMPT_DISK_EXCEEDED, naming /tmp, the limit and the setting', { timeout: 60_000 }, async () => {
  const world = executorWorld();
  try {
    const executor = createLocalExecutor(settingsOf(world, { tmpBytes: 16 * mebibyte }));
    const { status, failure, tookMs } = await runItem(world, executor, 'run-1/tmp-filler/1', {
      kind: 'command',
      argv: ['/bin/sh', '-c', 'dd if=/dev/zero of=/tmp/big bs=1M count=40; sleep 600'],
    });
    expect(status).toMatchObject({ state: 'exited', outcome: 'failed' });
    expect(failure?.code).toBe('CAIRN_ATTEMPT_DISK_EXCEEDED');
    expect(failure!.message).toContain('/tmp is full: it reached its disk limit of 16 MiB (16777216 bytes; 16 MiB in use)');
    expect(failure!.message).toContain("Raise the local executor's limits.tmpBytes (executor.limits.tmpBytes in the server config)");
    expect(tookMs).toBeLessThan(15_000);
    expect(mountsUnder(world.workRoot)).toEqual([]);
  } finally {
    world.cleanUp();
  }
});

test('an item within its limits succeeds, with its workspace and /tmp as before', { timeout: 30_000 }, async () => {
  const world = executorWorld();
  try {
    const executor = createLocalExecutor(settingsOf(world, { workspaceBytes: 32 * mebibyte, tmpBytes: 16 * mebibyte }));
    const { status } = await runItem(world, executor, 'run-1/fits/1', {
      kind: 'command',
      // 8 MiB in each; the workspace holds no lost+found, and /tmp is writable by the sandbox's uid.
      argv: [
        '/bin/sh',
        '-c',
        'dd if=/dev/zero of=data bs=1M count=8 2>/dev/null && dd if=/dev/zero of=/tmp/data bs=1M count=8 2>/dev/null && test ! -e lost+found',
      ],
    });
    expect(status).toMatchObject({ state: 'exited', outcome: 'succeeded' });
  } finally {
    world.cleanUp();
  }
});

test(
  'without the snapshot cache, a workspace snapshot larger than the workspace limit fails the item at once, naming the limit, and runs nothing',
  { timeout: 60_000 },
  async () => {
    const world = executorWorld();
    try {
      const executor = createLocalExecutor({ ...settingsOf(world, { workspaceBytes: 16 * mebibyte }), snapshotCache: { enabled: false } });
      // Random bytes: the snapshot is stored as it is, and fills the workspace as it is extracted.
      const snapshot = writeTar([{ path: 'big.bin', kind: 'file', executable: false, content: randomBytes(24 * mebibyte) }]);
      const digest = sha256Digest(snapshot);
      await world.storage.put(blobKey(digest), snapshot);
      const { status, failure, tookMs } = await runItem(
        world,
        executor,
        'run-1/big-snapshot/1',
        { kind: 'command', argv: ['/bin/sh', '-c', 'touch ran'] },
        { workspace: digest },
      );
      expect(status).toMatchObject({ state: 'exited', outcome: 'failed' });
      expect(failure?.code).toBe('CAIRN_ATTEMPT_DISK_EXCEEDED');
      expect(failure!.message).toContain("The workspace snapshot and the item's inputs do not fit in the attempt's disk limit; nothing was run.");
      expect(failure!.message).toContain('16 MiB (16777216 bytes');
      expect(tookMs).toBeLessThan(15_000);
      expect(mountsUnder(world.workRoot)).toEqual([]);
    } finally {
      world.cleanUp();
    }
  },
);

test(
  "with the snapshot cache, the snapshot is the host's: a snapshot over the workspace limit runs, and a change copying its big file into the layer fails for want of room",
  { timeout: 60_000 },
  async () => {
    const world = executorWorld();
    try {
      const executor = createLocalExecutor(settingsOf(world, { workspaceBytes: 16 * mebibyte }));
      const snapshot = writeTar([{ path: 'big.bin', kind: 'file', executable: false, content: randomBytes(24 * mebibyte) }]);
      const digest = sha256Digest(snapshot);
      await world.storage.put(blobKey(digest), snapshot);
      const reading = await runItem(
        world,
        executor,
        'run-1/reads-big/1',
        { kind: 'command', argv: ['/bin/sh', '-c', 'test -s big.bin && touch ran'] },
        { workspace: digest },
      );
      expect(reading.status).toMatchObject({ state: 'exited', outcome: 'succeeded' });
      const writing = await runItem(
        world,
        executor,
        'run-1/writes-big/1',
        { kind: 'command', argv: ['/bin/sh', '-c', 'printf x >> big.bin'] },
        { workspace: digest },
      );
      expect(writing.status).toMatchObject({ state: 'exited', outcome: 'failed' });
      // The copy into the layer failed whole and was undone: the layer is not full, and the program's
      // own error (in the failure's tail of stderr) says why.
      expect(writing.failure?.code).toBe('CAIRN_EXIT_NONZERO');
      expect(writing.failure?.message).toContain('No space left on device');
      expect(mountsUnder(world.workRoot)).toEqual([]);
    } finally {
      world.cleanUp();
    }
  },
);

test("the mounts of an attempt whose supervisor was killed are unmounted by the next executor's sweep", { timeout: 60_000 }, async () => {
  const world = executorWorld();
  try {
    const executor = createLocalExecutor(settingsOf(world, {}));
    const handle = await executor.start(world.task('run-1/orphan/1', { kind: 'command', argv: ['/bin/sleep', '600'] }, generousTimeout));
    // Its workspace (an overlay over the snapshot cache, itself over a bound tree and an image) and its /tmp.
    const mounted = () => mountsUnder(world.workRoot).filter((point) => point.endsWith('/workspace') || point.endsWith('/tmp'));
    for (let wait = 0; wait < 400 && mounted().length < 2; wait++) await sleep(25);
    const before = mountsUnder(world.workRoot);
    expect(mounted()).toHaveLength(2);
    const state = JSON.parse(readFileSync(`${world.stateDirectory}/${handle.executionId.replaceAll('/', '~')}.json`, 'utf8')) as ExecutionState;
    process.kill(state.owner.pid, 'SIGKILL');
    for (let wait = 0; wait < 400 && (await executor.inspect(handle)).state === 'running'; wait++) await sleep(25);
    // Its sandbox died with it; its workspace and /tmp are still mounted until someone sweeps.
    expect(mountsUnder(world.workRoot)).toEqual(before);
    createLocalExecutor(settingsOf(world, {}));
    expect(mountsUnder(world.workRoot)).toEqual([]);
  } finally {
    world.cleanUp();
  }
});
