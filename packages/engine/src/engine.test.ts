import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditAnchorV1, ExecutionStatus } from '@cairn/core';
import { createInMemoryAuditAnchor, createInMemorySigner } from '@cairn/conformance/mocks';
import { keyIdOf, verifyBundle } from '@cairn/audit';
import { isCairnError } from '@cairn/protocol';
import { expect, test, describe } from 'vitest';
import { createEngine } from './engine.ts';
import { ana, engineHarness, backends, eventually } from './engine.test-support.ts';

describe.each(backends)('on %s', (backend) => {
  const { databasePath, engineWith, runs } = engineHarness(backend);

  test('bad settings are refused, every option named', () => {
    try {
      createEngine({ database: '', executors: {}, storage: {} as never, signer: createInMemorySigner(), concurrency: 0 });
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
      expect((error as { issues: { path: string }[] }).issues.map((issue) => issue.path).sort()).toEqual([
        'engine.concurrency',
        'engine.database',
        'engine.executors',
        'engine.storage',
      ]);
    }
  });

  test('a started engine runs a submitted DAG to the end on pushed completions, without waiting for its reconcile interval', async () => {
    // Reconciling once a minute: only pushed exits can finish this run in time.
    const { engine } = await engineWith({ reconcileIntervalMs: 60_000 });
    engine.start();
    const chain = Array.from({ length: 20 }, (_, index) => ({
      id: `step-${index}`,
      runtime: { kind: 'command' as const, argv: ['true'] },
      ...(index ? { dependsOn: [`step-${index - 1}`] } : {}),
    }));
    const started = performance.now();
    const { runId } = engine.submit({ version: 1, name: 'chain', items: chain }, { actor: ana });
    const run = await engine.waitForRun(runId);
    expect(run.state).toBe('succeeded');
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(engine.audit.runEntries(runId).at(-1)!.action).toBe('run.succeeded');
  });

  test('waiting for a run that does not exist is refused, not a promise that never settles', async () => {
    const { engine } = await engineWith();
    await expect(engine.waitForRun('r-missing')).rejects.toMatchObject({ code: 'CAIRN_NOT_FOUND' });
  });

  test('unknown queues are refused at submit: a typo never becomes a silent hang', async () => {
    const { engine } = await engineWith();
    try {
      engine.submit({ version: 1, name: 'x', items: [{ id: 'a', queue: 'gpu', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana });
      expect.unreachable();
    } catch (error) {
      expect((error as { issues: { path: string; message: string }[] }).issues[0]).toMatchObject({
        path: '$.items[0].queue',
        message: expect.stringContaining('Known: none'),
      });
    }
  });

  test('unknown executors are refused at submit, with the ones that exist', async () => {
    const { engine } = await engineWith();
    try {
      engine.submit({ version: 1, name: 'x', items: [{ id: 'a', executor: 'fargate', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana });
      expect.unreachable();
    } catch (error) {
      expect((error as { issues: { message: string }[] }).issues[0]!.message).toContain('Known: local');
    }
  });

  test('stopped and started again over the same database, the engine re-attaches a running task and finishes the run; the task runs once', async () => {
    const path = databasePath();
    const first = await engineWith({ path });
    first.engine.start();
    const { runId } = first.engine.submit(
      { version: 1, name: 'long', items: [{ id: 'long', runtime: { kind: 'command', argv: ['sleep', '150'] } }] },
      { actor: ana },
    );
    for (let wait = 0; wait < 100 && first.engine.items(runId)[0]!.state !== 'running'; wait++) await sleep(5);
    await first.engine.stop();
    // The "new process": a new engine and a new executor instance that keeps only the backend's registry.
    const second = await engineWith({ path, registry: first.executor.registry });
    second.engine.start();
    expect((await second.engine.waitForRun(runId)).state).toBe('succeeded');
    expect([...first.executor.registry.executions.keys()].map((executionId) => runs.get(executionId))).toEqual([1]);
  });

  test('the loop waits out a retry backoff and then retries', async () => {
    const { engine } = await engineWith();
    engine.start();
    const { runId } = engine.submit(
      {
        version: 1,
        name: 'retry',
        items: [{ id: 'fails', retry: { maxAttempts: 2, backoff: { initial: '50ms', jitter: false } }, runtime: { kind: 'command', argv: ['exit', '1'] } }],
      },
      { actor: ana },
    );
    const started = performance.now();
    expect((await engine.waitForRun(runId)).state).toBe('failed');
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(engine.audit.runEntries(runId).filter((entry) => entry.action === 'attempt.dispatched')).toHaveLength(2);
  });

  test('a finished run exports an evidence bundle that verifies, its checkpoint anchored and read back live', async () => {
    const anchor = createInMemoryAuditAnchor();
    const { engine, signer } = await engineWith({ anchors: [anchor] });
    engine.start();
    const { runId } = engine.submit(
      {
        version: 1,
        name: 'evidence',
        items: [
          { id: 'a', runtime: { kind: 'command', argv: ['true'] } },
          { id: 'b', dependsOn: ['a'], runtime: { kind: 'command', argv: ['true'] } },
        ],
      },
      { actor: ana },
    );
    await engine.waitForRun(runId);
    const bundle = await engine.exportBundle(runId);
    const publicKey = await signer.publicKey();
    const report = await verifyBundle(bundle, { pinnedKeyIds: [keyIdOf(publicKey)], readAnchor: (receipt) => anchor.read(receipt) });
    expect(Object.fromEntries(report.checks.map((check) => [check.name, check.status]))).toMatchObject({
      entries: 'pass',
      completeness: 'pass',
      inclusion: 'pass',
      'checkpoint-signature': 'pass',
      manifests: 'pass',
      artifacts: 'pass',
      anchor: 'pass',
    });
    expect(report).toMatchObject({ valid: true, claim: 'tamper-detecting' });
    expect(engine.audit.runEntries(runId).length).toBeGreaterThan(5);
  });

  test('an anchor outage queues the checkpoint and anchors it later; nothing is dropped', { timeout: 15_000 }, async () => {
    const anchor = createInMemoryAuditAnchor();
    let failures = 1;
    const flaky = anchorAfter(anchor, 'flaky', async () => {
      if (failures-- > 0) throw new Error('anchor unreachable');
    });
    const { engine } = await engineWith({ anchors: [flaky] });
    engine.start();
    const { runId } = engine.submit({ version: 1, name: 'outage', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana });
    await engine.waitForRun(runId);
    for (let wait = 0; wait < 400 && !engine.audit.runEntries(runId).length; wait++) await sleep(5);
    const anchored = () => [...engine.audit.entries()].filter((entry) => entry.action === 'checkpoint.anchored');
    for (let wait = 0; wait < 300 && !anchored().some((entry) => entry.outcome === 'success'); wait++) await sleep(10);
    expect(anchored().map((entry) => entry.outcome)).toEqual(['failure', 'success']);
  });

  test('an anchor that answers slowly does not hold the engine: a run is dispatched and ends while its checkpoints wait for the anchor, anchored once it answers', async () => {
    const anchor = createInMemoryAuditAnchor();
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    let calls = 0;
    // A timestamp authority far away: no checkpoint is anchored until the test lets it answer.
    const slow = anchorAfter(anchor, 'slow', async () => {
      calls++;
      await answered;
    });
    // A checkpoint due every 20 entries: many fall due while the run is being dispatched.
    const { engine } = await engineWith({ anchors: [slow], checkpoints: { everyEntries: 20 } });
    engine.start();
    const items = Array.from({ length: 60 }, (_, index) => ({ id: `i${index}`, runtime: { kind: 'command' as const, argv: ['true'] } }));
    const { runId } = engine.submit({ version: 1, name: 'slow-anchor', items }, { actor: ana });
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    const anchored = () => [...engine.audit.entries()].filter((entry) => entry.action === 'checkpoint.anchored');
    expect(calls).toBeGreaterThan(0);
    expect(anchored()).toEqual([]);
    answer();
    await eventually(() => anchored().length > 0 && engine.metrics().pendingCheckpoints === 0);
    expect(anchored().every((entry) => entry.outcome === 'success')).toBe(true);
  });

  // 2,000 items: a minute on a loaded machine. Nothing is timed: the test counts timer callbacks
  // that ran while the run did.
  test('a long run never starves timers and I/O in the same process', { timeout: 180_000 }, async () => {
    // The in-memory executor finishes tasks on microtasks: without yielding, the loop would hold the
    // event loop until the whole run ended.
    const { engine } = await engineWith({ concurrency: 200 });
    engine.start();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const items = Array.from({ length: 2_000 }, (_, index) => ({ id: `i${index}`, runtime: { kind: 'command' as const, argv: ['true'] } }));
    const { runId } = engine.submit({ version: 1, name: 'long', items }, { actor: ana });
    let ticksWhileRunning = 0;
    let watchesWhileRunning = 0;
    const stop = () => {
      clearInterval(ticker);
      clearInterval(watcher);
    };
    const watcher = setInterval(() => {
      let running: boolean;
      try {
        running = engine.run(runId)!.state === 'running';
      } catch {
        // The engine was closed under it (the test failed or timed out): stop, not throw every 5 ms.
        stop();
        return;
      }
      if (!running) return;
      ticksWhileRunning = ticks;
      watchesWhileRunning++;
    }, 5);
    try {
      await engine.waitForRun(runId);
    } finally {
      stop();
    }
    // Timers ran again and again while the run went on (a loop that held the event loop to the end
    // would let them run only after it), whatever the machine's speed.
    expect(watchesWhileRunning).toBeGreaterThan(2);
    expect(ticksWhileRunning).toBeGreaterThan(5);
  });

  test('an exit whose push never comes (the process that would tell it died) is found by inspection, not left running to its deadline', async () => {
    const { engine, executor } = await engineWith({ reconcileIntervalMs: 20 });
    // The executor says it pushes exits, and drops every one: only inspecting can end the run.
    executor.onExit = () => () => {};
    engine.start();
    const { runId } = engine.submit(
      { version: 1, name: 'missed-push', items: [{ id: 'quiet', timeout: '1h', runtime: { kind: 'command', argv: ['true'] } }] },
      { actor: ana },
    );
    const run = await engine.waitForRun(runId);
    expect(run.state).toBe('succeeded');
    expect(engine.attempts(runId, 'quiet')).toMatchObject([{ state: 'succeeded' }]);
  });

  test('a pushed unknown (the task died with the process that ran it) records the attempt lost at once, with the reason', async () => {
    // Reconciling once a minute: only the push can end the attempt in time.
    const { engine, executor } = await engineWith({ reconcileIntervalMs: 60_000 });
    let tell: ((executionId: string, status: ExecutionStatus) => void) | undefined;
    const subscribe = executor.onExit.bind(executor);
    executor.onExit = (listener) => {
      tell = listener;
      return subscribe(listener);
    };
    engine.start();
    const { runId } = engine.submit(
      { version: 1, name: 'died', items: [{ id: 'long', onLost: 'fail', runtime: { kind: 'command', argv: ['sleep', '60000'] } }] },
      { actor: ana },
    );
    for (let wait = 0; wait < 200 && engine.attempts(runId, 'long')[0]?.state !== 'running'; wait++) await sleep(10);
    const [running] = engine.attempts(runId, 'long');
    tell!(running!.executionId, { state: 'unknown', reason: 'its supervisor (pid 4242) ended without recording an outcome' });
    const run = await engine.waitForRun(runId);
    expect(run.state).toBe('failed');
    expect(engine.attempts(runId, 'long')[0]).toMatchObject({
      state: 'lost',
      failure: { message: expect.stringContaining('its supervisor (pid 4242) ended without recording an outcome') },
    });
  });
});

/** An anchor that runs `before` (which may throw, or take its time) and then anchors in `anchor`. */
function anchorAfter(anchor: AuditAnchorV1, provider: string, before: () => Promise<void>): AuditAnchorV1 {
  return {
    specificationVersion: 'v1',
    provider,
    guarantee: 'detect',
    anchor: async (checkpoint) => {
      await before();
      return anchor.anchor(checkpoint);
    },
    read: (reference) => anchor.read(reference),
  };
}
