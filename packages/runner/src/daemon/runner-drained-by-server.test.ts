// A runner the server drains (an operator's `cairn runners drain`): it says so once, keeps polling
// with no free slots (its held attempt heartbeated, run to its end and reported), and takes work
// again once resumed.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, test } from 'vitest';
import { createRunnerExecutor } from '../executor/runner-executor.ts';
import { createRunner } from './runner.ts';
import { capturingLogger, exitOf, runnerWorld, startRunnerServer } from './runner-server.test-support.ts';

const token = 'runner-token-drained-0123456789';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanUp of cleanups.splice(0).reverse()) await cleanUp();
});

async function until(what: string, look: () => boolean, limitMs = 15_000): Promise<void> {
  for (const started = Date.now(); !look(); await sleep(10)) if (Date.now() - started > limitMs) throw new Error(`waited ${limitMs} ms for ${what}`);
}

test(
  'drained by the server, a runner logs it once, polls with no free slots while its held attempt finishes, and takes work again once resumed',
  { timeout: 30_000 },
  async () => {
    const world = runnerWorld();
    cleanups.push(() => world.cleanUp());
    const executor = createRunnerExecutor({ storage: world.storage, leaseMs: 10_000, pollWaitMs: 300 });
    cleanups.push(() => executor.close());
    const server = await startRunnerServer({ executor, tokens: { [token]: 'runner-1' } });
    cleanups.push(() => server.close());
    const { logger, lines } = capturingLogger();
    const runner = createRunner({
      server: server.url,
      token,
      labels: [],
      slots: 2,
      trustedKeys: [world.key],
      workRoot: world.workRoot,
      stateDirectory: world.stateDirectory,
      storage: world.storage,
      pollWaitMs: 300,
      reconnect: { firstMs: 50, maxMs: 400 },
      logger,
    });
    cleanups.push(() => runner.stop());
    await runner.start();

    const held = 'r-d/held/1';
    const heldExit = exitOf(executor, held);
    await executor.start(await world.task(held, { kind: 'command', argv: ['/bin/sleep', '1'] }));
    await until('the runner to hold the attempt', () => server.polls.some((poll) => poll.body.held.includes(held)));
    expect(executor.drain('runner-1')).toMatchObject({ draining: true });
    const pollsAtDrain = server.polls.length;
    const later = 'r-d/later/1';
    const laterHandle = await executor.start(await world.task(later, { kind: 'command', argv: ['/bin/true'] }));

    expect(await heldExit).toMatchObject({ outcome: 'succeeded' });
    // Several polls after the drain (at least one a whole wait long), each offering nothing.
    await sleep(700);
    const drainedPolls = server.polls.slice(pollsAtDrain + 1);
    expect(drainedPolls.length).toBeGreaterThanOrEqual(2);
    expect(drainedPolls.every((poll) => poll.body.slots === 0)).toBe(true);
    expect(await executor.inspect(laterHandle)).toEqual({ state: 'running' });
    expect(executor.runners()[0]).toMatchObject({ state: 'connected', draining: true, held: 0, slots: 0 });
    expect(lines.filter((line) => line.message.startsWith('drained by the server'))).toHaveLength(1);

    const laterExit = exitOf(executor, later);
    executor.undrain('runner-1');
    expect(await laterExit).toMatchObject({ outcome: 'succeeded' });
    expect(server.reportedIds()).toEqual([held, later]);
    expect(lines.filter((line) => line.message.startsWith('resumed by the server'))).toHaveLength(1);
  },
);
