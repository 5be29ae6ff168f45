// A server started with a low hard limit on open files (`prlimit --nofile=256:256 cairn serve`):
// its sandboxes cannot be given more (an unprivileged uid cannot raise a hard limit), so each item
// gets that limit instead of limits.openFiles' 4096 and runs; the executor says so once.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionStatus } from '@cairn/core';
import { blobKey, resultKey } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { createLocalExecutor } from './local-executor.ts';
import { executorWorld, stopSupervisors } from './local-executor.test-support.ts';

const hostEntry = fileURLToPath(new URL('../supervisor/executor-host.test-support.ts', import.meta.url));
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

test('an item started by an executor under a hard limit of 256 open files runs with 256, and the executor says so once', { timeout: 60_000 }, async () => {
  const world = executorWorld();
  cleanups.push(() => world.cleanUp());
  const tasks = [1, 2].map((index) =>
    world.task(`run-1/descriptors-${index}/1`, { kind: 'command', argv: ['/bin/sh', '-c', 'echo "soft $(ulimit -Sn) hard $(ulimit -Hn)"'] }),
  );
  const input = {
    storageRoot: join(world.directory, 'storage'),
    key: world.key,
    stateDirectory: world.stateDirectory,
    workRoot: world.workRoot,
    sandbox: 'bubblewrap',
    keepWorkDirectory: false,
    tasks,
  };
  const host = spawn('/usr/bin/prlimit', ['--nofile=256:256', '--', process.execPath, '--conditions=@cairn/source', hostEntry, JSON.stringify(input)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => {
    host.kill('SIGKILL');
    stopSupervisors(world.stateDirectory);
  });
  let stdout = '';
  let stderr = '';
  host.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  host.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  for (let wait = 0; wait < 600 && !stdout.includes('started\n') && host.exitCode === null; wait++) await sleep(25);
  expect(stdout, stderr).toContain('started\n');

  // This process (with its own limit) only reads what the host's supervisors record.
  const reader = createLocalExecutor({ storage: world.storage, trustedKeys: [world.key], stateDirectory: world.stateDirectory, workRoot: world.workRoot });
  for (const task of tasks) {
    const handle = { executor: 'local', executionId: task.executionId };
    let status: ExecutionStatus = await reader.inspect(handle);
    for (let wait = 0; wait < 1_200 && status.state !== 'exited'; wait++) {
      await sleep(25);
      status = await reader.inspect(handle);
    }
    const record = JSON.parse(new TextDecoder().decode((await world.storage.get(resultKey(task.executionId)))!)) as {
      failure?: unknown;
      artifacts: { stdout: string };
    };
    expect(status, JSON.stringify(record.failure)).toMatchObject({ state: 'exited', outcome: 'succeeded' });
    const said = new TextDecoder().decode((await world.storage.get(blobKey(record.artifacts.stdout)))!);
    expect(said).toBe('soft 256 hard 256\n');
  }
  const warnings = stderr
    .split('\n')
    .filter((line) => line.includes('open files'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(warnings).toEqual([
    expect.objectContaining({
      level: 'warn',
      openFiles: 256,
      requested: 4096,
      setting: 'local.executor.limits.openFiles',
      msg: expect.stringContaining('ulimit -Hn'),
    }),
  ]);
});
