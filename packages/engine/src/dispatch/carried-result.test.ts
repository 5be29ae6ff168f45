import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionHandle, ExecutionStatus, ExecutorV1, ResultRecord, TaskEnvelope } from '@cairn/core';
import { createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { blobKey, canonicalJsonBytes, resultKey, sha256Digest } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { createEngine } from '../engine.ts';
import { ana } from '../engine.test-support.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** What the worker's record says it made: an artifact no other item has, so the item's artifacts show which record was taken. */
const outputOf = (executionId: string) => new TextEncoder().encode(`output of ${executionId}`);

/** What the exit status carries, given the record the worker stored. */
type Carry = (stored: ResultRecord) => unknown;

/**
 * Stands in for an executor whose worker stores its result record and then exits: the record is
 * written to storage first, as a worker writes it, and the exit pushed with `carry(record)` as
 * its status's `result` (none when `carry` is undefined; when it is `null`, no record is written). `late`: the exit is pushed once the
 * start is recorded (a batch of pushed exits), else before it (the dispatch pass reads it).
 */
class StoringExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'storing';
  readonly capabilities = { cancel: true, pushesCompletions: true } as const;
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();
  readonly #storage: ReturnType<typeof createInMemoryStorageProvider>;
  readonly #carry: Carry | undefined;
  readonly #late: boolean;

  constructor(storage: ReturnType<typeof createInMemoryStorageProvider>, carry: Carry | undefined, late: boolean) {
    this.#storage = storage;
    this.#carry = carry;
    this.#late = late;
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const [runId, itemId, attempt] = task.executionId.split('/') as [string, string, string];
    const empty = new Uint8Array();
    const output = outputOf(task.executionId);
    await this.#storage.put(blobKey(sha256Digest(empty)), empty);
    await this.#storage.put(blobKey(sha256Digest(output)), output);
    const record: ResultRecord = {
      version: 'cairn.result/v1',
      runId,
      itemId,
      attempt: Number(attempt),
      fencingToken: Number(attempt),
      executionId: task.executionId,
      manifestDigest: task.manifestDigest,
      outcome: 'succeeded',
      exitCode: 0,
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      artifacts: { stdout: sha256Digest(empty), stderr: sha256Digest(empty), output: sha256Digest(output) },
    };
    const carried = this.#carry?.(record);
    // An exit that says no record was written (`null`) comes from a task that wrote none.
    if (carried !== null) await this.#storage.put(resultKey(task.executionId), canonicalJsonBytes(record), { contentType: 'application/json' });
    const status: ExecutionStatus = {
      state: 'exited',
      outcome: 'succeeded',
      exitCode: 0,
      resultKey: resultKey(task.executionId),
      ...(this.#carry ? { result: carried as ResultRecord | null } : {}),
    };
    const push = () => {
      for (const listener of this.#listeners) listener(task.executionId, status);
    };
    if (this.#late) setTimeout(push, 30);
    else queueMicrotask(push);
    return { executor: this.provider, executionId: task.executionId };
  }

  async inspect(): Promise<ExecutionStatus> {
    return { state: 'running' };
  }

  async cancel(): Promise<void> {}

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }
}

/** Runs `items` no-op items to their end with a `StoringExecutor`: the result keys the engine read, and each item's artifacts. */
async function runItems(carry: Carry | undefined, late: boolean, items = 3) {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-engine-'));
  directories.push(directory);
  const storage = createInMemoryStorageProvider();
  const executor = new StoringExecutor(storage, carry, late);
  const resultReads: string[] = [];
  const get = storage.get.bind(storage);
  storage.get = async (key: string) => {
    if (key.startsWith('results/')) resultReads.push(key);
    return get(key);
  };
  const engine = createEngine({
    database: join(directory, 'engine.db'),
    executors: { storing: executor },
    storage,
    signer: createInMemorySigner(),
    concurrency: 10,
    reconcileIntervalMs: 60_000,
  });
  try {
    engine.start();
    const { runId } = engine.submit(
      {
        version: 1,
        name: 'carried',
        items: Array.from({ length: items }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['true'] } })),
      },
      { actor: ana },
    );
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    const outputs = Array.from({ length: items }, (_, index) => engine.artifacts(runId, `item-${index}`)?.['output']);
    const expected = Array.from({ length: items }, (_, index) => sha256Digest(outputOf(`${runId}/item-${index}/1`)));
    return { resultReads, outputs, expected };
  } finally {
    await engine.close();
  }
}

test.each([
  ['before its start is recorded', false],
  ['after its start is recorded', true],
])('a result record carried with an exit pushed %s is taken as stored: its artifacts recorded, its key not read', async (_when, late) => {
  const { resultReads, outputs, expected } = await runItems((stored) => stored, late);
  expect(outputs).toEqual(expected);
  expect(resultReads).toEqual([]);
});

test('without a carried record the engine reads the stored one, and takes its artifacts', async () => {
  const { resultReads, outputs, expected } = await runItems(undefined, false);
  expect(outputs).toEqual(expected);
  expect(resultReads).toHaveLength(3);
});

test.each([
  [
    'names another execution',
    (stored: ResultRecord): unknown => ({
      ...stored,
      executionId: `${stored.executionId}-other`,
      artifacts: { ...stored.artifacts, output: stored.artifacts.stdout },
    }),
  ],
  [
    'is not a valid result record',
    (stored: ResultRecord): unknown => ({ ...stored, version: 'cairn.result/v0', artifacts: { ...stored.artifacts, output: stored.artifacts.stdout } }),
  ],
])('a carried record that %s is ignored: the stored record is read and decides', async (_what, carry) => {
  const { resultReads, outputs, expected } = await runItems(carry, false);
  expect(outputs).toEqual(expected);
  expect(resultReads).toHaveLength(3);
});

test('an exit that says its task wrote no record (`null`) is recorded without a read: the item succeeds with no artifacts of a worker', async () => {
  const { resultReads, outputs } = await runItems(() => null, false);
  expect(outputs).toEqual([undefined, undefined, undefined]);
  expect(resultReads).toEqual([]);
});
