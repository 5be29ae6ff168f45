import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ForkServer } from '@cairn/local';
import { blobKey, resultKey } from '@cairn/protocol';
import { installedProcessLauncher } from '@cairn/protocol/workspace';
import { afterEach, expect, test } from 'vitest';
import { createRunnerExecutor } from '../executor/runner-executor.ts';
import { VERSION } from '../index.ts';
import { createRunner, runnerVersion } from './runner.ts';
import type { RunnerSettings } from './runner-settings.ts';
import { capturingLogger, exitOf, runnerWorld, startRunnerServer } from './runner-server.test-support.ts';
import { UnreportedExits } from './unreported-exits.ts';

const token = 'runner-token-0123456789abcdef';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanUp of cleanups.splice(0).reverse()) await cleanUp();
});

/** A lease book behind a real HTTP server, a runner polling it, and the log lines it wrote. */
async function setUp(options: { slots?: number; serverVersion?: string; leaseMs?: number; runner?: Partial<RunnerSettings> } = {}) {
  const world = runnerWorld();
  cleanups.push(() => world.cleanUp());
  const executor = createRunnerExecutor({ storage: world.storage, leaseMs: options.leaseMs ?? 10_000, pollWaitMs: 1_000 });
  cleanups.push(() => executor.close());
  const server = await startRunnerServer({ executor, tokens: { [token]: 'runner-1' }, ...(options.serverVersion ? { version: options.serverVersion } : {}) });
  cleanups.push(() => server.close());
  const { logger, lines } = capturingLogger();
  const runner = createRunner({
    server: server.url,
    token,
    labels: ['linux', 'pool=build'],
    slots: options.slots ?? 2,
    trustedKeys: [world.key],
    workRoot: world.workRoot,
    stateDirectory: world.stateDirectory,
    storage: world.storage,
    reconnect: { firstMs: 50, maxMs: 400 },
    logger,
    ...options.runner,
  });
  cleanups.push(() => runner.stop());
  return { world, executor, server, runner, lines };
}

/** Resolves once `runner` listed `executionId` in a poll: it holds the lease. */
async function heldBy(server: Awaited<ReturnType<typeof startRunnerServer>>, executionId: string): Promise<void> {
  while (!server.polls.some((poll) => poll.body.held.includes(executionId))) await sleep(10);
}

/** Whether a process whose command line holds `marker` lives (a sandboxed command is one of this host's processes). */
function processWith(marker: string): boolean {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(marker)) return true;
    } catch {
      // Gone meanwhile.
    }
  }
  return false;
}

test('the version a runner polls with is the package VERSION', () => {
  expect(runnerVersion).toBe(VERSION);
});

test('a task started on the executor is leased, run in a sandbox, its exit reported and its result stored', { timeout: 30_000 }, async () => {
  const { world, executor, server, runner, lines } = await setUp();
  await runner.start();
  const executionId = 'r-1/one/1';
  const secret = 's3cr3t-value-never-logged';
  // Exit 3 only as a sandbox uid and with the secret the lease carried.
  const task = await world.task(
    executionId,
    { kind: 'command', argv: ['/bin/sh', '-c', `test "$(id -u)" -ge 200000 && test "$API_KEY" = "${secret}" && exit 3; exit 1`] },
    {},
    { API_KEY: secret },
  );
  const exited = exitOf(executor, executionId);
  const handle = await executor.start(task);
  const status = await exited;
  expect(status).toEqual({ state: 'exited', outcome: 'failed', exitCode: 3, resultKey: resultKey(executionId) });
  expect(await executor.inspect(handle)).toEqual(status);
  const record = JSON.parse(new TextDecoder().decode((await world.storage.get(resultKey(executionId)))!)) as Record<string, unknown>;
  expect(record).toMatchObject({ executionId, outcome: 'failed', exitCode: 3 });
  expect(server.reportedIds()).toEqual([executionId]);
  // Carried by the poll the attempt's end sent, and taken: no exits report, and nothing held any more.
  expect(server.exitReports).toEqual([]);
  while (runner.held().length > 0) await sleep(5);
  expect(server.polls.at(-1)!.body.held).toEqual([]);
  expect(server.polls[0]!.body).toMatchObject({ version: VERSION, labels: ['linux', 'pool=build'], slots: 2 });
  const taken = lines.find((line) => line.message === 'lease taken')!;
  const ended = lines.find((line) => line.message === 'lease ended')!;
  expect(taken.fields).toMatchObject({ executionId });
  expect(ended.fields).toMatchObject({ executionId, outcome: 'failed', exitCode: 3 });
  const logged = JSON.stringify(lines);
  expect(logged).not.toContain(secret);
  expect(logged).not.toContain(token);
  // A waiting poll is answered as the lease is queued, and the attempt starts as its answer arrives (a few ms here).
  expect(taken.fields['latencyMs']).toBeLessThan(1_000);
});

test.each([true, false])(
  'forkServer %s: the attempt and its patch come out the same; the fork server is installed while the runner runs, and removed when it stops',
  { timeout: 30_000 },
  async (forkServer) => {
    const { world, executor, runner } = await setUp({ runner: { forkServer } });
    await runner.start();
    expect(installedProcessLauncher() instanceof ForkServer).toBe(forkServer);
    const executionId = `r-fork-${forkServer}/one/1`;
    const task = await world.task(executionId, { kind: 'command', argv: ['/bin/sh', '-c', 'echo written > made.txt'] });
    const exited = exitOf(executor, executionId);
    await executor.start(task);
    expect(await exited).toMatchObject({ outcome: 'succeeded' });
    const record = JSON.parse(new TextDecoder().decode((await world.storage.get(resultKey(executionId)))!)) as { artifacts: { patch: string } };
    expect(record).toMatchObject({ outcome: 'succeeded', patchStats: { filesChanged: 1 } });
    const patch = new TextDecoder().decode((await world.storage.get(blobKey(record.artifacts.patch))) ?? new Uint8Array());
    expect(patch).toContain('+++ b/made.txt');
    await runner.stop();
    expect(installedProcessLauncher()).toBeUndefined();
  },
);

test('two slots run two attempts at once', { timeout: 30_000 }, async () => {
  const { world, executor, server, runner } = await setUp({ slots: 2 });
  await runner.start();
  const ids = ['r-2/a/1', 'r-2/b/1'];
  const markers = ['1.01', '1.02'];
  const tasks = await Promise.all(ids.map((id, index) => world.task(id, { kind: 'command', argv: ['/bin/sleep', markers[index]!] })));
  const exits = ids.map((id) => exitOf(executor, id));
  await Promise.all(tasks.map((task) => executor.start(task)));
  // Both sandboxed commands alive at the same moment, seen in /proc.
  while (!markers.every((marker) => processWith(`sleep ${marker}`))) await sleep(10);
  expect((await Promise.all(exits)).map((status) => status.outcome)).toEqual(['succeeded', 'succeeded']);
  expect(server.polls.some((poll) => ids.every((id) => poll.body.held.includes(id)) && poll.body.slots === 0)).toBe(true);
});

test('a cancel on the executor stops the attempt in its sandbox', { timeout: 30_000 }, async () => {
  const { world, executor, server, runner } = await setUp();
  await runner.start();
  const executionId = 'r-3/long/1';
  const marker = '601.25';
  const handle = await executor.start(await world.task(executionId, { kind: 'command', argv: ['/bin/sleep', marker] }));
  await heldBy(server, executionId);
  while (!processWith(`sleep ${marker}`)) await sleep(10);
  const exited = exitOf(executor, executionId);
  const cancelledAt = Date.now();
  await executor.cancel(handle);
  expect(await exited).toMatchObject({ state: 'exited', outcome: 'cancelled' });
  expect(Date.now() - cancelledAt).toBeLessThan(5_000);
  expect(processWith(`sleep ${marker}`)).toBe(false);
  // The book takes the exit before its answer reaches the runner, which then lets the lease go.
  while (runner.held().length > 0) await sleep(5);
  expect(server.reportedIds()).toEqual([executionId]);
});

test('the server going away and coming back: the attempt runs on, is listed again and its exit reported once', { timeout: 30_000 }, async () => {
  const { world, executor, server, runner, lines } = await setUp({ leaseMs: 10_000 });
  await runner.start();
  const executionId = 'r-4/through/1';
  const handle = await executor.start(await world.task(executionId, { kind: 'command', argv: ['/bin/sleep', '1'] }));
  await heldBy(server, executionId);
  await server.goAway();
  // The attempt ends while the server is away: its exit cannot be reported yet.
  while (!lines.some((line) => line.message === 'lease ended')) await sleep(20);
  await sleep(1_000);
  expect(server.reportedIds()).toEqual([]);
  expect(runner.held()).toEqual([executionId]);
  const exited = exitOf(executor, executionId);
  const cameBackAt = Date.now();
  await server.comeBack();
  expect(await exited).toMatchObject({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
  expect(server.polls.some((poll) => poll.at >= cameBackAt && poll.body.exits?.some((exit) => exit.executionId === executionId))).toBe(true);
  await sleep(300);
  expect(server.reportedIds()).toEqual([executionId]);
  expect(await executor.inspect(handle)).toMatchObject({ state: 'exited', outcome: 'succeeded' });
  expect(lines.filter((line) => line.message === 'server unreachable: attempts keep running, polling again')).toHaveLength(1);
  // Said when the first poll since is answered: the exit it carried was taken as it arrived, before it waited.
  while (!lines.some((line) => line.message === 'server reached again')) await sleep(20);
});

test('a revoked token (401) stops the runner and its attempts, with an error that says what to do', { timeout: 30_000 }, async () => {
  const { world, executor, server, runner } = await setUp();
  await runner.start();
  const executionId = 'r-5/cut/1';
  const marker = '602.75';
  await executor.start(await world.task(executionId, { kind: 'command', argv: ['/bin/sleep', marker] }));
  await heldBy(server, executionId);
  while (!processWith(`sleep ${marker}`)) await sleep(10);
  server.revoke(token);
  await expect(runner.stopped).rejects.toMatchObject({ code: 'CAIRN_UNAUTHENTICATED', message: expect.stringContaining('401') });
  await expect(runner.stopped).rejects.toMatchObject({ action: expect.stringContaining('CAIRN_RUNNER_TOKEN') });
  expect(processWith(`sleep ${marker}`)).toBe(false);
  expect(JSON.stringify(await runner.stopped.catch((error: unknown) => error))).not.toContain(token);
});

test('a server of another minor version refuses the runner, which stops naming both versions', { timeout: 30_000 }, async () => {
  const { runner, server } = await setUp({ serverVersion: '0.2.0' });
  await runner.start();
  const error = await runner.stopped.catch((refusal: unknown) => refusal as Error);
  expect(error?.message).toContain(`version ${VERSION}`);
  expect(error?.message).toContain('0.2.0');
  expect(server.polls).toEqual([]);
});

test('a drain takes no more work, lets the held attempt finish and reports its exit', { timeout: 30_000 }, async () => {
  const { world, executor, server, runner } = await setUp();
  await runner.start();
  const executionId = 'r-6/last/1';
  const exited = exitOf(executor, executionId);
  await executor.start(await world.task(executionId, { kind: 'command', argv: ['/bin/sleep', '1'] }));
  await heldBy(server, executionId);
  const draining = runner.stop({ drain: true });
  const later = await executor.start(await world.task('r-6/after/1', { kind: 'command', argv: ['/bin/true'] }));
  await draining;
  expect(await exited).toMatchObject({ outcome: 'succeeded' });
  expect(server.reportedIds()).toEqual([executionId]);
  // Still queued on the server for another runner.
  expect(await executor.inspect(later)).toEqual({ state: 'running' });
  expect(executor.runners()[0]).toMatchObject({ held: 0 });
});

test('an exit a previous runner kept on disk is reported when the runner starts, and then forgotten', { timeout: 30_000 }, async () => {
  const { world, executor, server, runner } = await setUp();
  const executionId = 'r-7/before/1';
  new UnreportedExits(world.stateDirectory).write(executionId, { state: 'exited', outcome: 'succeeded', exitCode: 0 });
  const exited = exitOf(executor, executionId);
  await runner.start();
  // The book is new (a server restart too): it adopts what a runner says it held.
  expect(await exited).toEqual({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
  expect(server.reportedIds()).toEqual([executionId]);
  while (runner.held().length > 0) await sleep(5);
  expect(new UnreportedExits(world.stateDirectory).read().size).toBe(0);
});

test(
  'a work root under a folder sandboxes cannot pass through is refused at start, naming the folder and the chmod that opens it',
  { timeout: 30_000 },
  async () => {
    const closed = mkdtempSync(join(tmpdir(), 'cairn-runner-closed-'));
    cleanups.push(() => rmSync(closed, { recursive: true, force: true }));
    // mkdtemp makes it 0700: the sandboxes' uids cannot pass through it to their workspaces.
    const { runner } = await setUp({ runner: { workRoot: join(closed, 'work') } });
    const refused = await runner.start().catch((error: unknown) => error);
    expect(refused).toMatchObject({
      code: 'CAIRN_CONFIG_INVALID',
      path: 'runner.workRoot',
      details: { chmod: `chmod o+x ${closed}` },
    });
    expect((refused as Error).message).toContain(`${closed} (mode 0700)`);
    await expect(runner.stopped).rejects.toMatchObject({ code: 'CAIRN_CONFIG_INVALID' });
  },
);

test('bad settings name every option under runner.', () => {
  expect(() => createRunner({ server: 'ftp://cairn', token: '', slots: 0, trustedKeys: [], stateDirectory: '/tmp/x', labels: ['GPU'] })).toThrow(
    expect.objectContaining({
      code: 'CAIRN_CONFIG_INVALID',
      issues: expect.arrayContaining(
        ['runner.server', 'runner.token', 'runner.slots', 'runner.trustedKeys', 'runner.labels.0'].map((path) => expect.objectContaining({ path })),
      ),
    }),
  );
});
