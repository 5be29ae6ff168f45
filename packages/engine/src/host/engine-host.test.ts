// The engine as a host runs it, one face over both state stores: on SQLite the process runs the
// engine and a leader-only task runs at once; on PostgreSQL two hosts share a database, exactly
// one runs the engine, the other answers through its service and refuses to hand out an engine,
// and a leader-only task runs on the leader alone. Real SQLite, real PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditActor } from '@cairn/core';
import { createInMemoryCipher, createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { afterEach, expect, test } from 'vitest';
import { createTestDatabase } from '../store/postgres/postgres.test-support.ts';
import { createEngineHost, type EngineHost, type LeaderTask } from './engine-host.ts';

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const spec = { version: 1, name: 'hosted', items: [{ id: 'one', runtime: { kind: 'command', argv: ['true'] } }] };
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A task that says whether it runs now. */
function leaderTask(): LeaderTask & { running: boolean } {
  const task = {
    running: false,
    start: () => void (task.running = true),
    stop: async () => void (task.running = false),
  };
  return task;
}

const seams = () => ({
  executors: { local: createInMemoryExecutor({ run: async () => 0 }) },
  storage: createInMemoryStorageProvider(),
  signer: createInMemorySigner(),
  cipher: createInMemoryCipher(),
  inboxPollMs: false as const,
});

test('on SQLite the host runs the engine: the run finishes, and a leader-only task runs from start', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-engine-host-'));
  const host = await createEngineHost({ state: { kind: 'sqlite', path: join(directory, 'cairn.db') }, engine: seams() });
  cleanups.push(
    async () => rmSync(directory, { recursive: true, force: true }),
    () => host.close(),
  );
  const task = host.whileLeading(leaderTask());
  task.start();
  host.start();
  expect(host.state).toBe('sqlite');
  const { runId } = await host.service.submit(spec, { actor: ana });
  expect((await host.engine.waitForRun(runId)).state).toBe('succeeded');
});

test('on PostgreSQL one of two hosts runs the engine; the other answers through its service and hands out no engine', { timeout: 60_000 }, async () => {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  const shared = seams();
  const open = async (instanceId: string): Promise<{ host: EngineHost; task: ReturnType<typeof leaderTask> }> => {
    const host = await createEngineHost({ state: database.settings, engine: { ...shared, reconcileIntervalMs: 50 }, instanceId });
    cleanups.push(() => host.close());
    const task = leaderTask();
    host.whileLeading(task).start();
    host.start();
    return { host, task };
  };
  const first = await open('first');
  const second = await open('second');
  const leading = async () => {
    for (let tries = 0; tries < 500; tries++) {
      const leaders = [first, second].filter(({ task }) => task.running);
      if (leaders.length === 1) return leaders[0]!;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('no single leader');
  };
  const leader = await leading();
  const follower = leader === first ? second : first;
  expect(follower.task.running).toBe(false);
  expect(() => follower.host.engine).toThrow(expect.objectContaining({ code: 'CAIRN_STATE_UNAVAILABLE' }));

  // A submit through the follower's service reaches the leader's engine, which runs it.
  const { runId } = await follower.host.service.submit(spec, { actor: ana });
  expect((await leader.host.engine.waitForRun(runId)).state).toBe('succeeded');
  expect(leader.host.state).toBe('postgres');
});
