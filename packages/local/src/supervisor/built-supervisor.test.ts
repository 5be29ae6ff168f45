// The supervisor as the published package runs it: `dist/execution-supervisor.js`, next to the
// `dist/index.js` that spawns it (build the package first: `pnpm --filter @cairn/local build`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutorV1 } from '@cairn/core';
import { afterEach, expect, test } from 'vitest';
import type { ExecutionState } from '../executor/execution-state.ts';
import { executorWorld } from '../executor/local-executor.test-support.ts';
import type { createLocalExecutor as CreateLocalExecutor } from '../executor/local-executor.ts';

const built = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const worlds: ReturnType<typeof executorWorld>[] = [];
afterEach(() => {
  for (const world of worlds.splice(0)) world.cleanUp();
});

test('the built executor runs each task in the built supervisor, and the task completes', { timeout: 30_000 }, async () => {
  const world = executorWorld();
  worlds.push(world);
  const { createLocalExecutor } = (await import(built)) as { createLocalExecutor: typeof CreateLocalExecutor };
  const executor: ExecutorV1 = createLocalExecutor({
    storage: world.storage,
    trustedKeys: [world.key],
    stateDirectory: world.stateDirectory,
    workRoot: world.workRoot,
    ...(process.getuid?.() === 0 ? {} : { sandbox: 'none' as const }),
  });
  const handle = await executor.start(world.task('run-1/built/1', { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 1; echo built > built.txt'] }));
  const state = JSON.parse(readFileSync(join(world.stateDirectory, 'run-1~built~1.json'), 'utf8')) as ExecutionState;
  const commandLine = readFileSync(`/proc/${state.owner.pid}/cmdline`, 'utf8').split('\0');
  expect(commandLine).toContain(join(built, '..', 'execution-supervisor.js'));
  let status = await executor.inspect(handle);
  for (let wait = 0; wait < 400 && status.state !== 'exited'; wait++) {
    await sleep(25);
    status = await executor.inspect(handle);
  }
  expect(status).toEqual({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
});
