// The local executor's state directory through a power cut: execution state files are written
// without a flush (a temporary file linked or renamed into place), so a machine crash may leave one
// whose name survived (a later folder flush carried it) and whose bytes did not. Every process that
// wrote it died in the crash: the next server reads such a file as no state, and starting the
// execution again runs it.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionStatus } from '@cairn/core';
import { usePowerCutFileSystem } from '@cairn/conformance/faults';
import { afterEach, expect, test } from 'vitest';
import { createLocalExecutor } from './local-executor.ts';
import { executorWorld, stopSupervisors } from './local-executor.test-support.ts';

const power = usePowerCutFileSystem();
const worlds: ReturnType<typeof executorWorld>[] = [];
afterEach(() => {
  for (const world of worlds.splice(0)) world.cleanUp();
});

function fsyncFolder(folder: string): void {
  const descriptor = openSync(folder, 'r');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

test('a state file a power cut left without its bytes reads as no state, and the execution started again runs', { timeout: 30_000 }, async () => {
  const made = executorWorld();
  worlds.push(made);
  const stateDirectory = join(power.path, 'executions');
  mkdirSync(stateDirectory);
  fsyncFolder(power.path);
  const settings = { storage: made.storage, trustedKeys: [made.key], stateDirectory, workRoot: made.workRoot, sandbox: 'none' as const };
  // The first run marks that it began and waits; a run after the cut finds the mark and ends.
  const began = join(made.directory, 'began');
  const task = made.task('run-1/item/1', {
    kind: 'command',
    argv: ['/bin/sh', '-c', `if [ -s ${began} ]; then exit 0; fi; echo $$ > ${began}; exec sleep 600`],
  });
  const before = createLocalExecutor(settings);
  await before.start(task);
  for (let wait = 0; wait < 400 && !(existsSync(began) && readFileSync(began, 'utf8').endsWith('\n')); wait++) await sleep(25);
  const taskProcess = Number(readFileSync(began, 'utf8'));

  // The power cut: the supervisor and its task die, a folder flush had carried the state file's
  // name, not its bytes.
  stopSupervisors(stateDirectory);
  process.kill(taskProcess, 'SIGKILL');
  fsyncFolder(stateDirectory);
  await power.cut();
  const stateFile = join(stateDirectory, 'run-1~item~1.json');
  expect(readFileSync(stateFile, 'utf8')).toBe('');

  const after = createLocalExecutor(settings);
  const exits: ExecutionStatus[] = [];
  after.onExit((_executionId, status) => exits.push(status));
  const handle = { executor: 'local', executionId: task.executionId };
  expect(await after.inspect(handle)).toEqual({ state: 'unknown' });
  await after.start(task);
  for (let wait = 0; wait < 400 && exits.length === 0; wait++) await sleep(25);
  expect(exits).toEqual([expect.objectContaining({ state: 'exited', outcome: 'succeeded' })]);
  expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toMatchObject({ executionId: task.executionId, status: 'exited', outcome: 'succeeded' });
});
