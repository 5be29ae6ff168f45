import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditActor, Digest, ExecutorV1, ResultRecord, StoredManifest, TaskEnvelope } from '@cairn/core';
import { buildEvidenceBundle, keyIdOf, openStoredManifest, signCheckpoint, trustedKeyFrom, verifyBundle } from '@cairn/audit';
import { createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { CairnError, cairnEventSchema, canonicalJsonBytes, manifestKey, parseRunSpec, resultKey, sha256Digest } from '@cairn/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { RunStateMachine } from '../state/run-state-machine.ts';
import { eventOfEntry } from '../events/event-of-entry.ts';
import type { EngineDatabase } from '../store/shared/engine-database.ts';
import { type EngineBackend, backends } from '../engine.test-support.ts';
import { captureChanges } from '../store/change-capture.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { GroupCommitter } from '../store/group-committer.ts';
import { createPostgresStateStore } from '../store/postgres/postgres-state-store.ts';
import type { PostgresWriter } from '../store/postgres/postgres-writer.ts';
import { createTestDatabase, workingCopyContents, type TestDatabase } from '../store/postgres/postgres.test-support.ts';
import { AttemptStore } from '../store/sqlite/attempt-store.ts';
import { Dispatcher } from './dispatcher.ts';
import type { DispatcherSettings } from './dispatcher-settings.ts';
import { WorkingCopy } from '../store/sqlite/working-copy.ts';

const directories: string[] = [];
/** The PostgreSQL side of each test on `postgres`: checked equal to the working copy, then dropped. */
const stores: { database: TestDatabase; writer: PostgresWriter; workingCopy: EngineDatabase; committer: GroupCommitter }[] = [];
afterEach(async () => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  for (const { database, writer, workingCopy, committer } of stores.splice(0)) {
    try {
      // What the dispatcher wrote since its last commit is committed; a fresh load must equal the working copy.
      await committer.commit();
      const loaded = openEngineDatabase(':memory:');
      await writer.load(loaded);
      expect(workingCopyContents(loaded), 'PostgreSQL holds what the working copy holds').toEqual(workingCopyContents(workingCopy));
      loaded.close();
    } finally {
      await writer.release();
      workingCopy.close();
      await database.drop();
    }
  }
}, 60_000);

/**
 * The state store of one test: a SQLite file, or (ADR 0023) a working copy loaded from a fresh
 * PostgreSQL database, with the store's group commit as the dispatcher's commit.
 */
async function stateOn(backend: EngineBackend): Promise<{ database: EngineDatabase; commit?: GroupCommit }> {
  if (backend === 'sqlite') {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-engine-'));
    directories.push(directory);
    return { database: openEngineDatabase(join(directory, 'engine.db')) };
  }
  const testDatabase = await createTestDatabase();
  const writer = await createPostgresStateStore(testDatabase.settings).acquireWriter({ instanceId: 'dispatcher-test' });
  const workingCopy = openEngineDatabase(':memory:');
  const capture = captureChanges(workingCopy);
  await writer.load(workingCopy, capture);
  const committer = new GroupCommitter(capture, writer);
  stores.push({ database: testDatabase, writer, workingCopy, committer });
  return { database: workingCopy, commit: committer.commit };
}

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };

/**
 * The engine with in-memory seams that pass their conformance suites. The task body plays the
 * worker: it fetches and verifies its signed manifest, stores its outputs by digest and writes a
 * result record, then exits with the code the item's argv asks for (`exit 3`).
 */
async function setUpOn(backend: EngineBackend, concurrency = 16, queues: Record<string, { concurrency: number }> = {}) {
  const { database, commit } = await stateOn(backend);
  /** The dispatcher settings of this backend's commit (none on SQLite: each transaction commits). */
  const committing = commit ? { commit } : {};
  const audit = new AuditLog(new WorkingCopy(database));
  const machine = new RunStateMachine(new WorkingCopy(database), audit);
  const storage = createInMemoryStorageProvider();
  const signer = createInMemorySigner();
  const publicKey = await signer.publicKey();
  const key = { keyId: keyIdOf(publicKey), algorithm: signer.algorithm, publicKey: Buffer.from(publicKey).toString('base64') };
  const seenInputs: Record<string, unknown> = {};
  /** When each task (by `run/item`) started and ended, to see what overlapped. */
  const intervals: Record<string, [number, number]> = {};
  let running = 0;
  let peak = 0;
  const worker = async (task: TaskEnvelope, signal?: AbortSignal): Promise<number> => {
    running++;
    peak = Math.max(peak, running);
    try {
      const envelope = JSON.parse(new TextDecoder().decode((await storage.get(manifestKey(task.manifestDigest)))!)) as StoredManifest;
      const manifest = openStoredManifest(envelope, [trustedKeyFrom(key)]);
      seenInputs[manifest.itemId] = manifest.inputs;
      const began = performance.now();
      const argv = manifest.runtime.kind === 'command' ? manifest.runtime.argv : [];
      // `sleep N` runs N ms unless stopped first.
      await sleep(argv[0] === 'sleep' ? Number(argv[1]) : 5, undefined, signal ? { signal } : {}).catch(() => undefined);
      intervals[`${manifest.runId}/${manifest.itemId}`] = [began, performance.now()];
      if (signal?.aborted) return 130;
      if (argv[0] === 'garbage') {
        await storage.put(resultKey(manifest.executionId), new TextEncoder().encode('{"version": "cairn.result/v1", "oops'));
        return 0;
      }
      // `exit N` always exits N; `flaky N` fails its first N attempts.
      const exitCode = argv[0] === 'exit' ? Number(argv[1]) : argv[0] === 'flaky' && manifest.attempt <= Number(argv[1]) ? 1 : 0;
      const stdout = new TextEncoder().encode(`${manifest.itemId} ran\n`);
      await storage.put(`artifacts/${sha256Digest(stdout).slice(7)}`, stdout);
      const result: ResultRecord = {
        version: 'cairn.result/v1',
        runId: manifest.runId,
        itemId: manifest.itemId,
        attempt: manifest.attempt,
        fencingToken: manifest.fencingToken,
        executionId: manifest.executionId,
        manifestDigest: task.manifestDigest,
        outcome: exitCode === 0 ? 'succeeded' : 'failed',
        exitCode,
        startedAt: manifest.issuedAt,
        finishedAt: manifest.issuedAt,
        artifacts: { patch: sha256Digest(`${manifest.itemId} patch`), stdout: sha256Digest(stdout), stderr: sha256Digest('') },
      };
      await storage.put(resultKey(manifest.executionId), canonicalJsonBytes(result));
      return exitCode;
    } finally {
      running--;
    }
  };
  const executor = createInMemoryExecutor({ run: worker });
  const dispatcher = new Dispatcher({
    workingCopy: new WorkingCopy(database),
    audit,
    machine,
    executors: { local: executor },
    storage,
    signer,
    concurrency,
    queues,
    ...committing,
  });
  /** Another dispatcher over the same state (a restarted engine, other executors), with any other setting. */
  const dispatcherWith = (
    executors: Readonly<Record<string, ExecutorV1>>,
    settings: Partial<Pick<DispatcherSettings, 'signer' | 'concurrency' | 'attemptTraceContext'>> = {},
  ) => new Dispatcher({ workingCopy: new WorkingCopy(database), audit, machine, executors, storage, signer, ...committing, ...settings });
  /** Dispatch and reconcile until the run ends. */
  const drive = async (runId: string) => {
    for (let round = 0; round < 500 && !['succeeded', 'failed', 'cancelled'].includes(machine.run(runId)!.state); round++) {
      await dispatcher.dispatchReady();
      await sleep(2);
      await dispatcher.reconcile();
    }
  };
  return {
    database,
    committing,
    audit,
    machine,
    storage,
    signer,
    key,
    dispatcher,
    dispatcherWith,
    drive,
    seenInputs,
    intervals,
    worker,
    executor,
    peak: () => peak,
  };
}

/**
 * An executor that ends every task the moment it starts and pushes its exit before the start is
 * recorded (as the engine's subscription to `onExit` would); `started` lists the items it started.
 */
function instantExecutor(dispatcher: () => Dispatcher): { instant: ExecutorV1; started: string[] } {
  const exited = { state: 'exited', outcome: 'succeeded', exitCode: 0 } as const;
  const started: string[] = [];
  const instant: ExecutorV1 = {
    specificationVersion: 'v1',
    provider: 'instant',
    capabilities: { cancel: true, pushesCompletions: true },
    start: async (task) => {
      started.push(task.executionId.split('/')[1]!);
      queueMicrotask(() => void dispatcher().exited(task.executionId, exited));
      return { executor: 'instant', executionId: task.executionId };
    },
    inspect: async () => exited,
    cancel: async () => {},
  };
  return { instant, started };
}

/** `executor` with another `start` (a process that dies, a backend that is down). */
function withStart(executor: ExecutorV1, start: ExecutorV1['start']): ExecutorV1 {
  return {
    specificationVersion: 'v1',
    provider: executor.provider,
    capabilities: executor.capabilities,
    inspect: (handle) => executor.inspect(handle),
    cancel: (handle) => executor.cancel(handle),
    start,
  };
}

const spec = `
version: 1
name: build
items:
  - { id: edit, runtime: { kind: command, argv: [make, edit] } }
  - { id: check, runtime: { kind: command, argv: [make, check] }, needs: { change: { from: edit, select: patch } }, apply: [change] }
  - { id: lint, runtime: { kind: command, argv: [make, lint] } }
`;

describe.each(backends)('Dispatcher on %s', (backend) => {
  const setUp = (concurrency?: number, queues?: Record<string, { concurrency: number }>) => setUpOn(backend, concurrency, queues);

  test('runs a DAG through an executor: signed manifests, needs resolved to digests, and a bundle that verifies', async () => {
    const { machine, audit, storage, signer, key, drive, seenInputs } = await setUp();
    const { runId } = machine.submit(spec, { actor: ana });
    await drive(runId);
    expect(machine.run(runId)).toMatchObject({ state: 'succeeded', itemsFailed: 0 });
    expect(seenInputs['check']).toEqual({ change: { from: 'edit', select: 'patch', digest: sha256Digest('edit patch') } });
    const actions = audit.runEntries(runId).map((entry) => entry.action);
    expect(actions.filter((action) => action === 'attempt.dispatched')).toHaveLength(3);
    expect(actions.filter((action) => action === 'attempt.completed')).toHaveLength(3);

    // The run's evidence, exported from what the engine stored, verifies with every offline check.
    const dispatched = audit.runEntries(runId).filter((entry) => entry.action === 'attempt.dispatched');
    const manifests = await Promise.all(
      dispatched.map(
        async (entry) => JSON.parse(new TextDecoder().decode((await storage.get(manifestKey(String(entry.data['manifestDigest']))))!)) as StoredManifest,
      ),
    );
    const checkpoint = await signCheckpoint(
      { origin: 'cairn:test', treeSize: audit.size, rootHash: Buffer.from(audit.merkle.rootHash()).toString('hex'), time: '2026-11-22T12:00:00.000Z' },
      signer,
    );
    const bundle = buildEvidenceBundle({
      runId,
      spec: parseRunSpec(spec) as Parameters<typeof buildEvidenceBundle>[0]['spec'],
      entries: audit.runEntries(runId),
      proofs: audit.merkle,
      checkpoint,
      anchors: [],
      keys: [key],
      manifests,
    });
    const report = await verifyBundle(bundle, { trustedKeys: [key] });
    expect(Object.fromEntries(report.checks.map((check) => [check.name, check.status]))).toMatchObject({
      entries: 'pass',
      completeness: 'pass',
      inclusion: 'pass',
      'checkpoint-signature': 'pass',
      manifests: 'pass',
      artifacts: 'pass',
    });
    expect(bundle.artifacts).toHaveLength(9);
  });

  test('a failing task fails its item and skips what needs it; the concurrency limit holds', async () => {
    const { machine, drive, peak } = await setUp(2);
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'mixed',
        items: [
          { id: 'broken', runtime: { kind: 'command', argv: ['exit', '3'] } },
          { id: 'after', dependsOn: ['broken'], runtime: { kind: 'command', argv: ['make'] } },
          ...['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, runtime: { kind: 'command' as const, argv: ['make', id] } })),
        ],
      },
      { actor: ana },
    );
    await drive(runId);
    expect(machine.run(runId)).toMatchObject({ state: 'failed', itemsFailed: 1, itemsFinished: 7 });
    expect(Object.fromEntries(machine.items(runId).map((item) => [item.itemId, item.state]))).toMatchObject({
      broken: 'failed',
      after: 'skipped',
      a: 'succeeded',
      e: 'succeeded',
    });
    expect(peak()).toBeLessThanOrEqual(2);
  });

  test("a pass's limit caps what it takes below the concurrency left; the next pass takes the rest of the room", async () => {
    const { machine, dispatcher } = await setUp(5);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const { runId } = machine.submit(
      { version: 1, name: 'halves', items: ids.map((id) => ({ id, runtime: { kind: 'command' as const, argv: ['sleep', '10000'] } })) },
      { actor: ana },
    );
    const pass = await dispatcher.dispatchNext({ limit: 3 });
    expect(pass.moved).toBe(3);
    expect(await pass.started).toBe(3);
    // Five may run together: the next pass, limited to 3 too, finds room for two.
    expect(await dispatcher.dispatchReady({ limit: 3 })).toBe(2);
    const states = machine.items(runId).map((item) => item.state);
    expect(states.filter((state) => state === 'running')).toHaveLength(5);
    expect(states.filter((state) => state === 'ready')).toHaveLength(2);
    machine.cancelRun(runId, ana);
  });

  test('an item naming an executor that is not configured fails with the reason, audited', async () => {
    const { machine, audit, drive } = await setUp();
    const { runId } = machine.submit(
      { version: 1, name: 'x', items: [{ id: 'gpu', executor: 'fargate', runtime: { kind: 'command', argv: ['x'] } }] },
      { actor: ana },
    );
    await drive(runId);
    expect(machine.run(runId)!.state).toBe('failed');
    expect(audit.runEntries(runId).find((entry) => entry.action === 'item.failed')!.data).toEqual({
      reason: 'no executor named "fargate" is configured',
      failure: { code: 'CAIRN_CONFIG_INVALID' },
    });
  });

  test('every attempt that does not succeed has a failure, on the attempt, the item, its audit entry and its event; engine-side reasons get codes of their own', async () => {
    const { dispatcherWith, database, audit, machine, executor } = await setUp();
    const refusing = withStart(executor, async (task) => {
      if (task.executionId.includes('/refused/')) throw new CairnError('CAIRN_EXECUTOR_START_FAILED', 'the manifest names a runtime this executor lacks');
      return executor.start(task);
    });
    const dispatcher = dispatcherWith({ local: refusing });
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'reasons',
        items: [
          { id: 'exits', retry: { maxAttempts: 2, backoff: { initial: '1ms', jitter: false } }, runtime: { kind: 'command', argv: ['exit', '4'] } },
          { id: 'slow', timeout: '50ms', runtime: { kind: 'command', argv: ['sleep', '10000'] } },
          { id: 'garbage', runtime: { kind: 'command', argv: ['garbage'] } },
          { id: 'refused', runtime: { kind: 'command', argv: ['make'] } },
          { id: 'secretive', secrets: ['NOT_THERE'], runtime: { kind: 'command', argv: ['make'] } },
          { id: 'fine', runtime: { kind: 'command', argv: ['make'] } },
        ],
      },
      { actor: ana },
    );
    for (let round = 0; round < 500 && machine.run(runId)!.state !== 'failed'; round++) {
      await dispatcher.dispatchReady();
      await sleep(2);
      await dispatcher.reconcile();
    }
    const items = Object.fromEntries(machine.items(runId).map((item) => [item.itemId, item]));
    expect(items['exits']!.failure).toEqual({
      code: 'CAIRN_EXIT_NONZERO',
      message: 'The runtime exited with code 4.',
      exitCode: 4,
      signal: null,
      stderrTail: '',
    });
    expect(items['slow']!.failure).toMatchObject({ code: 'CAIRN_ATTEMPT_TIMED_OUT', message: expect.stringContaining('deadline') });
    expect(items['garbage']!.failure).toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      message: expect.stringContaining("The worker's result was rejected: the result record is not valid"),
    });
    expect(items['refused']!.failure).toMatchObject({
      code: 'CAIRN_EXECUTOR_START_FAILED',
      message: 'the manifest names a runtime this executor lacks',
      exitCode: null,
    });
    expect(items['secretive']!.failure).toMatchObject({ code: 'CAIRN_SECRET_UNAVAILABLE', message: expect.stringContaining('NOT_THERE') });
    expect(items['fine']!.failure).toBeNull();
    // Each attempt keeps its own failure: both of the retried item's attempts say why.
    const attempts = new AttemptStore(database);
    expect(attempts.ofItem(runId, 'exits').map((attempt) => [attempt.attempt, attempt.state, attempt.exitCode, attempt.failure?.code])).toEqual([
      [1, 'failed', 4, 'CAIRN_EXIT_NONZERO'],
      [2, 'failed', 4, 'CAIRN_EXIT_NONZERO'],
    ]);
    expect(attempts.ofItem(runId, 'fine')).toMatchObject([{ state: 'succeeded', failure: null }]);
    expect(attempts.ofItem(runId, 'secretive')).toEqual([]);
    // The audit log and the events carry the code (and rule), not the message.
    const entries = audit.runEntries(runId);
    const completed = entries.filter((entry) => entry.action === 'attempt.completed');
    expect(completed.find((entry) => entry.data['itemId'] === 'slow')!.data['failure']).toEqual({ code: 'CAIRN_ATTEMPT_TIMED_OUT' });
    expect(completed.find((entry) => entry.data['itemId'] === 'fine')!.data['failure']).toBeUndefined();
    const events = entries.map(eventOfEntry).filter((event) => event !== undefined);
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'attempt.state', itemId: 'garbage', state: 'failed', failure: { code: 'CAIRN_PAYLOAD_INVALID' } }),
        expect.objectContaining({ type: 'item.state', itemId: 'secretive', state: 'failed', failure: { code: 'CAIRN_SECRET_UNAVAILABLE' } }),
        expect.objectContaining({ type: 'item.state', itemId: 'exits', state: 'failed', failure: { code: 'CAIRN_EXIT_NONZERO' } }),
      ]),
    );
    for (const event of events) expect(() => cairnEventSchema.parse(event)).not.toThrow();
  });

  test('failed attempts are retried with backoff until they succeed or run out', async () => {
    const { database, machine, audit, drive } = await setUp();
    const retry = { maxAttempts: 3, backoff: { initial: '10ms', jitter: false } };
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'retries',
        items: [
          { id: 'flaky', retry, runtime: { kind: 'command', argv: ['flaky', '2'] } },
          { id: 'hopeless', retry: { ...retry, maxAttempts: 2 }, runtime: { kind: 'command', argv: ['exit', '1'] } },
        ],
      },
      { actor: ana },
    );
    await drive(runId);
    expect(Object.fromEntries(machine.items(runId).map((item) => [item.itemId, item.state]))).toEqual({ flaky: 'succeeded', hopeless: 'failed' });
    // An item that succeeds on a retry no longer shows a failure; its failed attempts keep theirs.
    expect(Object.fromEntries(machine.items(runId).map((item) => [item.itemId, item.failure?.code ?? null]))).toEqual({
      flaky: null,
      hopeless: 'CAIRN_EXIT_NONZERO',
    });
    expect(new AttemptStore(database).ofItem(runId, 'flaky').map((attempt) => attempt.failure?.code ?? null)).toEqual([
      'CAIRN_EXIT_NONZERO',
      'CAIRN_EXIT_NONZERO',
      null,
    ]);
    const retries = audit.runEntries(runId).filter((entry) => entry.action === 'item.ready' && entry.data['retryAt'] !== undefined);
    expect(retries.map((entry) => [entry.entity.id.split('/')[1], entry.data['attempt']])).toEqual(
      expect.arrayContaining([
        ['flaky', 1],
        ['flaky', 2],
        ['hopeless', 1],
      ]),
    );
    expect(retries).toHaveLength(3);
    const flakyRetry = retries.find((entry) => entry.entity.id.endsWith('/flaky') && entry.data['attempt'] === 2)!;
    // 10ms × 2^(2-1): due 20ms after the engine decided (the entry's own time is a moment later).
    const waited = Date.parse(String(flakyRetry.data['retryAt'])) - Date.parse(flakyRetry.time);
    expect(waited).toBeGreaterThan(10);
    expect(waited).toBeLessThanOrEqual(20);
  });

  test('after a crash between recording a dispatch and hearing back from the executor, recovery re-attaches without running the task twice', async () => {
    const { dispatcherWith, audit, machine, worker, executor } = await setUp();
    // The first engine process records the dispatch, the executor starts the task, and the
    // process dies before it learns the handle.
    const dying = withStart(executor, async (task) => {
      await executor.start(task);
      return new Promise<never>(() => {});
    });
    const first = dispatcherWith({ local: dying });
    const { runId } = machine.submit({ version: 1, name: 'crash', items: [{ id: 'once', runtime: { kind: 'command', argv: ['make'] } }] }, { actor: ana });
    void first.dispatchReady();
    for (let wait = 0; wait < 100 && !audit.runEntries(runId).some((entry) => entry.action === 'attempt.dispatched'); wait++) await sleep(2);
    // The restarted engine: a new dispatcher, and an executor instance that shares only what a real
    // backend would keep (the registry).
    const restarted = createInMemoryExecutor({ run: worker, registry: executor.registry });
    const second = dispatcherWith({ local: restarted });
    expect(await second.recover()).toBe(0);
    for (let round = 0; round < 200 && machine.run(runId)!.state !== 'succeeded'; round++) {
      await sleep(2);
      await second.reconcile();
    }
    expect(machine.run(runId)!.state).toBe('succeeded');
    expect([...executor.registry.executions.values()].map((execution) => execution.runs)).toEqual([1]);
    expect(
      audit
        .runEntries(runId)
        .filter((entry) => entry.action === 'attempt.started')
        .map((entry) => entry.data['recovered']),
    ).toEqual([true]);
  });

  test('recovery records an attempt lost when its dispatch manifest is gone (a power cut before the manifest was written), and its item runs again with a new one', async () => {
    const { dispatcherWith, database, audit, machine, storage, worker, executor } = await setUp();
    // The dispatch is recorded (durable), its manifest put without a flush, and the machine loses
    // power before the task starts: the manifest is not in storage after the restart.
    const hanging = withStart(executor, () => new Promise<never>(() => {}));
    const first = dispatcherWith({ local: hanging });
    const { runId } = machine.submit({ version: 1, name: 'cut', items: [{ id: 'a', runtime: { kind: 'command', argv: ['make'] } }] }, { actor: ana });
    void first.dispatchReady();
    for (let wait = 0; wait < 100 && !audit.runEntries(runId).some((entry) => entry.action === 'attempt.dispatched'); wait++) await sleep(2);
    const [dispatched] = new AttemptStore(database).ofItem(runId, 'a');
    expect(dispatched?.state).toBe('dispatching');
    await storage.delete(manifestKey(dispatched!.manifestDigest));
    const restarted = createInMemoryExecutor({ run: worker, registry: executor.registry });
    const second = dispatcherWith({ local: restarted });
    expect(await second.recover()).toBe(0);
    expect(new AttemptStore(database).ofItem(runId, 'a').map((attempt) => attempt.state)).toEqual(['lost']);
    const lost = audit.runEntries(runId).find((entry) => entry.action === 'attempt.lost');
    expect(String(lost?.data['cause'])).toContain('its dispatch manifest is not in storage');
    for (let round = 0; round < 200 && machine.run(runId)!.state !== 'succeeded'; round++) {
      await second.dispatchReady();
      await sleep(2);
      await second.reconcile();
    }
    expect(machine.run(runId)!.state).toBe('succeeded');
    expect(new AttemptStore(database).ofItem(runId, 'a').map((attempt) => attempt.state)).toEqual(['lost', 'succeeded']);
    // The task never ran from the lost manifest: only the second attempt's.
    expect([...restarted.registry.executions.keys()]).toEqual([`${runId}/a/2`]);
  });

  test('recovery waits for an executor that is down, and fails an attempt whose start is refused', async () => {
    const { dispatcherWith, audit, machine, executor } = await setUp();
    const hanging = withStart(executor, () => new Promise<never>(() => {}));
    const first = dispatcherWith({ local: hanging });
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'recover',
        items: [
          { id: 'a', runtime: { kind: 'command', argv: ['make'] } },
          { id: 'b', runtime: { kind: 'command', argv: ['make'] } },
        ],
      },
      { actor: ana },
    );
    void first.dispatchReady();
    for (let wait = 0; wait < 100 && audit.runEntries(runId).filter((entry) => entry.action === 'attempt.dispatched').length < 2; wait++) await sleep(2);
    let down = true;
    const flaky = withStart(executor, async (task) => {
      if (task.executionId.endsWith('/b/1')) throw new CairnError('CAIRN_EXECUTOR_START_FAILED', 'the manifest names a runtime this executor lacks');
      if (down) throw new CairnError('CAIRN_EXECUTOR_UNAVAILABLE', 'the executor backend is unreachable');
      return executor.start(task);
    });
    const second = dispatcherWith({ local: flaky });
    expect(await second.recover()).toBe(1);
    expect(Object.fromEntries(machine.items(runId).map((item) => [item.itemId, item.state]))).toEqual({ a: 'running', b: 'failed' });
    expect(String(audit.runEntries(runId).find((entry) => entry.action === 'attempt.completed')!.data['reason'])).toMatch(/^CAIRN_EXECUTOR_START_FAILED/);
    down = false;
    expect(await second.recover()).toBe(0);
    for (let round = 0; round < 200 && machine.run(runId)!.state === 'running'; round++) {
      await sleep(2);
      await second.reconcile();
    }
    expect(machine.items(runId).find((item) => item.itemId === 'a')!.state).toBe('succeeded');
  });

  test('each task carries the trace context its host gives the attempt, a task started again by recovery included; none without the setting', async () => {
    const { dispatcherWith, audit, machine, executor } = await setUp();
    // The host's answer names the attempt it was asked about, so a mix-up shows.
    const attemptTraceContext: DispatcherSettings['attemptTraceContext'] = (attempt) => ({
      traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${String(attempt.attempt).padStart(16, '0')}-01`,
      tracestate: `cairn=${attempt.runId}.${attempt.itemId}`,
    });
    const seen: TaskEnvelope[] = [];
    const hanging = withStart(executor, (task) => {
      seen.push(task);
      return new Promise<never>(() => {});
    });
    const first = dispatcherWith({ local: hanging }, { attemptTraceContext });
    const { runId } = machine.submit({ version: 1, name: 'traced', items: [{ id: 'a', runtime: { kind: 'command', argv: ['make'] } }] }, { actor: ana });
    void first.dispatchReady();
    for (let wait = 0; wait < 100 && seen.length === 0; wait++) await sleep(2);
    // Restarted before the start was heard back: recovery starts the task again, asking anew.
    const recording = withStart(executor, (task) => {
      seen.push(task);
      return executor.start(task);
    });
    expect(await dispatcherWith({ local: recording }, { attemptTraceContext }).recover()).toBe(0);
    const expected = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000001-01', tracestate: `cairn=${runId}.a` };
    expect(seen.map((task) => [task.executionId, task.traceContext])).toEqual([
      [`${runId}/a/1`, expected],
      [`${runId}/a/1`, expected],
    ]);
    expect(audit.runEntries(runId).filter((entry) => entry.action === 'attempt.dispatched')).toHaveLength(1);

    const untraced: TaskEnvelope[] = [];
    const plain = dispatcherWith({ local: withStart(executor, (task) => (untraced.push(task), executor.start(task))) });
    machine.submit({ version: 1, name: 'untraced', items: [{ id: 'b', runtime: { kind: 'command', argv: ['make'] } }] }, { actor: ana });
    await plain.dispatchReady();
    expect(untraced).toHaveLength(1);
    expect(untraced[0]).not.toHaveProperty('traceContext');
  });

  test('an attempt past its timeout is stopped through the executor and ends timed-out', async () => {
    const { machine, audit, drive } = await setUp();
    const { runId } = machine.submit(
      { version: 1, name: 'slow', items: [{ id: 'slow', timeout: '50ms', runtime: { kind: 'command', argv: ['sleep', '10000'] } }] },
      { actor: ana },
    );
    const started = Date.now();
    await drive(runId);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(machine.run(runId)!.state).toBe('failed');
    const entries = audit.runEntries(runId);
    expect(entries.find((entry) => entry.action === 'attempt.cancelled')!.data['reason']).toMatch(/^no result by its deadline/);
    expect(entries.find((entry) => entry.action === 'attempt.completed')!.data['outcome']).toBe('timed-out');
  });

  test('cancelling a run cancels what has not started, stops what runs, and ends the run cancelled by its actor, last', async () => {
    const { machine, audit, dispatcher } = await setUp(1);
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'to-cancel',
        items: [
          { id: 'long', runtime: { kind: 'command', argv: ['sleep', '10000'] } },
          { id: 'after', dependsOn: ['long'], runtime: { kind: 'command', argv: ['make'] } },
          { id: 'waiting', runtime: { kind: 'command', argv: ['make'] } },
        ],
      },
      { actor: ana },
    );
    expect(await dispatcher.dispatchReady()).toBe(1);
    const bo: AuditActor = { kind: 'user', id: 'bo', via: 'http' };
    machine.cancelRun(runId, bo);
    expect(Object.fromEntries(machine.items(runId).map((item) => [item.itemId, item.state]))).toEqual({
      long: 'running',
      after: 'cancelled',
      waiting: 'cancelled',
    });
    expect(machine.run(runId)!.state).toBe('running');
    for (let round = 0; round < 200 && machine.run(runId)!.state === 'running'; round++) {
      await dispatcher.reconcile();
      await sleep(2);
    }
    expect(machine.run(runId)!.state).toBe('cancelled');
    expect(machine.items(runId).find((item) => item.itemId === 'long')!.state).toBe('cancelled');
    const last = audit.runEntries(runId).at(-1)!;
    expect([last.action, last.actor.id]).toEqual(['run.cancelled', 'bo']);
    try {
      machine.cancelRun(runId, bo);
      expect.unreachable();
    } catch (error) {
      expect((error as { code?: string }).code).toBe('CAIRN_LIFECYCLE_TRANSITION_INVALID');
    }
  });

  test('an item cancelled while its pass prepares is not dispatched, nothing of it is written, and the rest of the pass is', async () => {
    const { database, machine, audit, dispatcher } = await setUp();
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'cancel-mid-pass',
        items: [
          { id: 'first', runtime: { kind: 'command', argv: ['sleep', '10000'] } },
          { id: 'gone', locks: ['file:x'], runtime: { kind: 'command', argv: ['sleep', '10000'] } },
          { id: 'last', runtime: { kind: 'command', argv: ['sleep', '10000'] } },
        ],
      },
      { actor: ana },
    );
    // The pass chooses all three at once, then signs and stores their manifests (asynchronously):
    // the cancel lands in between, before the pass records its dispatches.
    const pass = dispatcher.dispatchReady();
    machine.cancelItem(runId, 'gone', ana);
    expect(await pass).toBe(2);
    expect(Object.fromEntries(machine.items(runId).map((item) => [item.itemId, item.state]))).toEqual({ first: 'running', gone: 'cancelled', last: 'running' });
    expect(new AttemptStore(database).live().map((attempt) => attempt.itemId)).toEqual(['first', 'last']);
    expect(database.prepare('SELECT COUNT(*) AS count FROM lock_holders').get()).toEqual({ count: 0 });
    const dispatched = audit.runEntries(runId).filter((entry) => entry.action === 'attempt.dispatched');
    expect(dispatched.map((entry) => entry.entity.id)).toEqual([`${runId}/first/1`, `${runId}/last/1`]);
    expect(audit.merkle.size).toBe([...audit.entries()].length);
    machine.cancelRun(runId, ana);
  });

  test("a pass told to chain dispatches what its tasks' quick exits made ready, in the same pass, while chain says so", async () => {
    const { dispatcherWith, machine, audit } = await setUp();
    const { instant, started } = instantExecutor(() => dispatcher);
    const dispatcher = dispatcherWith({ local: instant });
    const items = ['a', 'b', 'c', 'd', 'e'].map((id, index, ids) => ({
      id,
      runtime: { kind: 'command' as const, argv: ['true'] },
      ...(index > 0 ? { dependsOn: [ids[index - 1]!] } : {}),
    }));
    const { runId } = machine.submit({ version: 1, name: 'chain', items }, { actor: ana });
    const states = () => Object.fromEntries(machine.items(runId).map((item) => [item.itemId, item.state]));
    // Without `chain`: one round. The first item starts and ends in it; its dependent waits for the next pass.
    expect(await dispatcher.dispatchReady()).toBe(1);
    expect(states()).toEqual({ a: 'succeeded', b: 'ready', c: 'blocked', d: 'blocked', e: 'blocked' });
    // With it: asked after each round in which items ended, and the pass stops when it says no.
    let asked = 0;
    expect(await dispatcher.dispatchReady({ chain: () => ++asked < 3 })).toBe(3);
    expect(asked).toBe(3);
    expect(states()).toEqual({ a: 'succeeded', b: 'succeeded', c: 'succeeded', d: 'succeeded', e: 'ready' });
    // The last item ends the run: nothing is ready, and chain is asked no more after the round that found nothing.
    expect(await dispatcher.dispatchReady({ chain: () => true })).toBe(1);
    expect(machine.run(runId)).toMatchObject({ state: 'succeeded', itemsFinished: 5 });
    expect(started).toEqual(['a', 'b', 'c', 'd', 'e']);
    // Each attempt recorded in order, its start and its completion together, nothing twice.
    const actions = audit
      .runEntries(runId)
      .filter((entry) => entry.action.startsWith('attempt.'))
      .map((entry) => `${entry.action} ${String(entry.data['itemId'])}`);
    expect(actions).toEqual(items.flatMap(({ id }) => [`attempt.dispatched ${id}`, `attempt.started ${id}`, `attempt.completed ${id}`]));
    expect(audit.merkle.size).toBe([...audit.entries()].length);
  });

  test("a chain's next item, prepared while its prerequisite's quick exit is read, is dispatched once, also when the choice takes another item first", async () => {
    const { dispatcherWith, machine, audit, storage } = await setUp();
    const { instant, started } = instantExecutor(() => dispatcher);
    // One task at a time: when 'a' ends, its dependent 'b' is prepared, but the choice takes 'x',
    // ready since the submit and older than 'b'; 'b' is prepared again, and dispatched, after 'x'.
    const dispatcher = dispatcherWith({ local: instant }, { concurrency: 1 });
    const command = { kind: 'command' as const, argv: ['true'] };
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'guessed',
        items: [
          { id: 'a', runtime: command },
          { id: 'x', runtime: command },
          { id: 'b', runtime: command, dependsOn: ['a'] },
          { id: 'c', runtime: command, dependsOn: ['b'] },
        ],
      },
      { actor: ana },
    );
    expect(await dispatcher.dispatchReady({ chain: () => true })).toBe(4);
    expect(started).toEqual(['a', 'x', 'b', 'c']);
    expect(machine.run(runId)).toMatchObject({ state: 'succeeded', itemsFinished: 4 });
    const attemptEntries = audit.runEntries(runId).filter((entry) => entry.action.startsWith('attempt.'));
    expect(attemptEntries.map((entry) => `${entry.action} ${String(entry.data['itemId'])}`)).toEqual(
      ['a', 'x', 'b', 'c'].flatMap((id) => [`attempt.dispatched ${id}`, `attempt.started ${id}`, `attempt.completed ${id}`]),
    );
    // Each dispatch names a manifest that is stored, for its own first attempt.
    for (const entry of attemptEntries.filter((candidate) => candidate.action === 'attempt.dispatched')) {
      expect(entry.data['attempt']).toBe(1);
      expect(await storage.get(manifestKey(entry.data['manifestDigest'] as Digest))).not.toBeNull();
    }
    expect(audit.merkle.size).toBe([...audit.entries()].length);
  });

  test("a chain's next item whose early preparation fails (the signer refused once) is prepared again by the next round: the pass goes on", async () => {
    const { dispatcherWith, machine, audit, signer } = await setUp();
    const { instant, started } = instantExecutor(() => dispatcher);
    // The second signature (b's manifest, prepared while a's exit is read) fails; the rest do not.
    let signatures = 0;
    const flaky = new Proxy(signer, {
      get(target, property) {
        if (property === 'sign')
          return async (...parameters: Parameters<typeof signer.sign>) => {
            if (++signatures === 2) throw new Error('the signer is unreachable');
            return target.sign(...parameters);
          };
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...parameters: unknown[]) => unknown).bind(target) : value;
      },
    });
    const dispatcher = dispatcherWith({ local: instant }, { signer: flaky });
    const command = { kind: 'command' as const, argv: ['true'] };
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'flaky-guess',
        items: [
          { id: 'a', runtime: command },
          { id: 'b', runtime: command, dependsOn: ['a'] },
        ],
      },
      { actor: ana },
    );
    expect(await dispatcher.dispatchReady({ chain: () => true })).toBe(2);
    expect(signatures).toBe(3);
    expect(started).toEqual(['a', 'b']);
    expect(machine.run(runId)).toMatchObject({ state: 'succeeded', itemsFinished: 2 });
    expect(
      audit
        .runEntries(runId)
        .filter((entry) => entry.action.startsWith('attempt.'))
        .map((entry) => `${entry.action} ${String(entry.data['itemId'])}`),
    ).toEqual(['a', 'b'].flatMap((id) => [`attempt.dispatched ${id}`, `attempt.started ${id}`, `attempt.completed ${id}`]));
  });

  test('a dispatch is recorded, and its task started, only once its manifest is stored: a crash after the record never lacks the manifest', async () => {
    const { database, machine, audit, dispatcher, storage, peak } = await setUp();
    const { runId } = machine.submit(
      { version: 1, name: 'manifest-first', items: [{ id: 'only', runtime: { kind: 'command', argv: ['sleep', '10000'] } }] },
      { actor: ana },
    );
    // The manifest's put resolves (its provider has made it durable) only when released.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const put = storage.put.bind(storage);
    const manifestPuts: unknown[] = [];
    storage.put = async (key, body, options) => {
      if (key.startsWith('manifests/')) manifestPuts.push(options);
      const result = await put(key, body, options);
      if (key.startsWith('manifests/')) await held;
      return result;
    };
    const pass = dispatcher.dispatchReady();
    await sleep(50);
    // Put without a flush of its own (ADR 0024): readable after kill -9, as the dispatch's commit is.
    expect(manifestPuts).toEqual([expect.objectContaining({ ifAbsent: true, deferFlush: true })]);
    const dispatched = () => audit.runEntries(runId).filter((entry) => entry.action === 'attempt.dispatched');
    expect(dispatched()).toEqual([]);
    expect(new AttemptStore(database).live()).toEqual([]);
    expect(peak()).toBe(0);
    release();
    expect(await pass).toBe(1);
    expect(dispatched()).toHaveLength(1);
    machine.cancelRun(runId, ana);
  });

  test('locks: exclusive holders exclude everyone across runs, shared ones share, and a waiting writer is not starved', async () => {
    const { machine, dispatcher, intervals } = await setUp();
    const item = (id: string, locks: ({ name: string; mode: 'shared' | 'exclusive' } | string)[], dependsOn?: string[]) => ({
      id,
      locks,
      ...(dependsOn ? { dependsOn } : {}),
      runtime: { kind: 'command' as const, argv: ['sleep', '150'] },
    });
    const first = machine.submit(
      { version: 1, name: 'readers', items: [item('read-1', [{ name: 'db', mode: 'shared' }]), item('read-2', [{ name: 'db', mode: 'shared' }])] },
      { actor: ana },
    );
    const second = machine.submit({ version: 1, name: 'writer', items: [item('write', ['db', 'file:x'])] }, { actor: ana });
    const third = machine.submit({ version: 1, name: 'late-reader', items: [item('read-3', [{ name: 'db', mode: 'shared' }])] }, { actor: ana });
    const runs = [first.runId, second.runId, third.runId];
    for (let round = 0; round < 500 && runs.some((runId) => machine.run(runId)!.state !== 'succeeded'); round++) {
      await dispatcher.dispatchReady();
      await sleep(2);
      await dispatcher.reconcile();
    }
    expect(runs.map((runId) => machine.run(runId)!.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const span = (runId: string, itemId: string) => intervals[`${runId}/${itemId}`]!;
    const overlap = (a: [number, number], b: [number, number]) => a[0] < b[1] && b[0] < a[1];
    const write = span(second.runId, 'write');
    // The two readers ran together; the writer overlapped nobody; the late reader waited for the writer.
    expect(overlap(span(first.runId, 'read-1'), span(first.runId, 'read-2'))).toBe(true);
    for (const [runId, itemId] of [
      [first.runId, 'read-1'],
      [first.runId, 'read-2'],
      [third.runId, 'read-3'],
    ] as const)
      expect(overlap(write, span(runId, itemId))).toBe(false);
    expect(span(third.runId, 'read-3')[0]).toBeGreaterThanOrEqual(write[1]);
  });

  test('lock waits: an item held back by a lock records when it began waiting and for which lock, once, and its attempt keeps it', async () => {
    const { machine, dispatcher, database } = await setUp();
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'shared-lock',
        // A run concurrency of 2: 'late' waits for that limit, not for a lock.
        concurrency: 2,
        items: [
          { id: 'holder', locks: ['deploy'], runtime: { kind: 'command', argv: ['sleep', '150'] } },
          { id: 'waiter', locks: ['deploy', 'file:free'], runtime: { kind: 'command', argv: ['sleep', '5'] } },
          { id: 'free', runtime: { kind: 'command', argv: ['sleep', '150'] } },
          { id: 'late', runtime: { kind: 'command', argv: ['sleep', '5'] } },
        ],
      },
      { actor: ana },
    );
    const itemWait = () =>
      database
        .prepare('SELECT lock_wait_started_at AS startedAt, lock_wait_locks AS locks FROM items WHERE run_id = ? AND item_id = ?')
        .get(runId, 'waiter') as {
        startedAt: string | null;
        locks: string | null;
      };
    expect(await dispatcher.dispatchReady()).toBe(2);
    const first = itemWait();
    expect(first.startedAt).not.toBeNull();
    // Only the lock that was held, not the free one it also declares.
    expect(JSON.parse(first.locks!)).toEqual(['deploy']);
    // The item shows its wait while ready; the one held back by the run's concurrency waits for no lock.
    const byId = () => Object.fromEntries(machine.items(runId).map((item) => [item.itemId, item]));
    expect(byId()['waiter']!.lockWait).toEqual({ startedAt: first.startedAt, locks: ['deploy'] });
    expect(byId()['late']).toMatchObject({ state: 'ready', lockWait: null });
    await sleep(20);
    // A later pass that finds it still waiting does not move the start of its wait.
    await dispatcher.dispatchReady();
    expect(itemWait()).toEqual(first);
    for (let round = 0; round < 500 && machine.run(runId)!.state !== 'succeeded'; round++) {
      await dispatcher.dispatchReady();
      await sleep(2);
      await dispatcher.reconcile();
    }
    expect(machine.run(runId)!.state).toBe('succeeded');
    const [waited] = machine.attempts(runId, 'waiter');
    expect(waited!.lockWait).toEqual({ startedAt: first.startedAt, locks: ['deploy'] });
    expect(Date.parse(waited!.dispatchedAt)).toBeGreaterThanOrEqual(Date.parse(first.startedAt!));
    // The item's own record of the wait ended with the dispatch.
    expect(itemWait()).toEqual({ startedAt: null, locks: null });
    for (const itemId of ['holder', 'free', 'late']) expect(machine.attempts(runId, itemId)[0]!.lockWait).toBeNull();
    expect(machine.items(runId).map((item) => item.lockWait)).toEqual([null, null, null, null]);
  });

  test('a malformed result record is rejected and audited, and the attempt does not count as a success', async () => {
    const { machine, audit, drive } = await setUp();
    const { runId } = machine.submit({ version: 1, name: 'garbage', items: [{ id: 'bad', runtime: { kind: 'command', argv: ['garbage'] } }] }, { actor: ana });
    await drive(runId);
    expect(machine.run(runId)!.state).toBe('failed');
    const rejected = audit.runEntries(runId).find((entry) => entry.action === 'attempt.result-rejected')!;
    expect(rejected.data['reason']).toMatch(/^the result record is not valid/);
  });

  test('per-run concurrency and named queues limit what runs together', async () => {
    const { machine, dispatcher, intervals } = await setUp(16, { gpu: { concurrency: 1 } });
    const sleeper = (id: string, extra: object = {}) => ({ id, ...extra, runtime: { kind: 'command' as const, argv: ['sleep', '40'] } });
    const serial = machine.submit({ version: 1, name: 'serial', concurrency: 1, items: [sleeper('a'), sleeper('b'), sleeper('c')] }, { actor: ana });
    const gpuOne = machine.submit({ version: 1, name: 'gpu-1', items: [sleeper('train', { queue: 'gpu' })] }, { actor: ana });
    const gpuTwo = machine.submit({ version: 1, name: 'gpu-2', defaults: { queue: 'gpu' }, items: [sleeper('train')] }, { actor: ana });
    const runs = [serial.runId, gpuOne.runId, gpuTwo.runId];
    for (let round = 0; round < 500 && runs.some((runId) => machine.run(runId)!.state !== 'succeeded'); round++) {
      await dispatcher.dispatchReady();
      await sleep(2);
      await dispatcher.reconcile();
    }
    expect(runs.map((runId) => machine.run(runId)!.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const overlap = (a: [number, number], b: [number, number]) => a[0] < b[1] && b[0] < a[1];
    const span = (runId: string, itemId: string) => intervals[`${runId}/${itemId}`]!;
    for (const [first, second] of [
      ['a', 'b'],
      ['a', 'c'],
      ['b', 'c'],
    ] as const)
      expect(overlap(span(serial.runId, first), span(serial.runId, second))).toBe(false);
    expect(overlap(span(gpuOne.runId, 'train'), span(gpuTwo.runId, 'train'))).toBe(false);
  });
});
