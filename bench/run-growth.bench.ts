// Runs that grow (ADR 0034): a planner emitting 10,000 items, from its task's end to all 10,000
// ready to dispatch, against submitting the same 10,000 items as a spec — both checked as a spec
// is, inserted and audited item by item — and a `forEach` item mapping over a 1,000-element list,
// from its producer's end to its 1,000 instances ready, against submitting 1,000 items as a spec;
// measured in turns in one process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionHandle, ExecutionStatus, ExecutorV1, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createEngine } from '@cairn/engine';
import { blobKey, canonicalJsonBytes, resultKey, sha256Digest } from '@cairn/protocol';
import { atMostTimes, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const actor = { kind: 'system', id: 'bench', via: 'engine' } as const;
const command = { kind: 'command' as const, argv: ['true'] };
const items = 10_000;
const rounds = 5;
const fragmentItems = Array.from({ length: items }, (_, index) => ({ id: `task-${index}`, runtime: command }));
const elements = 1_000;
const elementItems = fragmentItems.slice(0, elements);
/** What the `forEach` item maps over: the list its producer writes as its output. */
const listOutput = canonicalJsonBytes({ tests: Array.from({ length: elements }, (_, index) => `test-${index}`) });
/** A producer of that list, and an item with one instance per element (ADR 0034). */
const forEachSpec = (round: number) => ({
  version: 1 as const,
  name: `for-each-${round}`,
  items: [
    { id: 'list', runtime: command },
    { id: 'each', forEach: { from: 'list', select: 'output' as const, path: '$.tests', maxItems: elements }, runtime: command },
  ],
});

/** The output of the tasks that end at once: a planner's fragment, a producer's list. */
const outputs = new Map([
  ['plan', canonicalJsonBytes({ items: fragmentItems })],
  ['list', listOutput],
]);

/**
 * Ends a planner's task, or a list producer's, at once, leaving what a worker leaves (its output
 * and a result record), and starts every other task without ending it until it is cancelled: what
 * is measured is the engine adding the items.
 */
class PlannerExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'planner';
  readonly capabilities = { cancel: true, pushesCompletions: true } as const;
  /** When the last planner's (or producer's) task ended (its exit pushed). */
  endedAt = 0;
  readonly #storage: StorageProviderV1;
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();

  constructor(storage: StorageProviderV1) {
    this.#storage = storage;
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const [runId, itemId] = task.executionId.split('/');
    const output = outputs.get(itemId!);
    if (output !== undefined) {
      const empty = new Uint8Array();
      await this.#storage.put(blobKey(sha256Digest(output)), output);
      const now = new Date().toISOString();
      const record = {
        version: 'cairn.result/v1',
        runId,
        itemId,
        attempt: 1,
        fencingToken: 1,
        executionId: task.executionId,
        manifestDigest: task.manifestDigest,
        outcome: 'succeeded',
        exitCode: 0,
        startedAt: now,
        finishedAt: now,
        artifacts: { stdout: sha256Digest(empty), stderr: sha256Digest(empty), output: sha256Digest(output) },
      };
      await this.#storage.put(resultKey(task.executionId), new TextEncoder().encode(JSON.stringify(record)));
      queueMicrotask(() => {
        this.endedAt = performance.now();
        for (const listener of this.#listeners) listener(task.executionId, { state: 'exited', outcome: 'succeeded', exitCode: 0 });
      });
    }
    return { executor: this.provider, executionId: task.executionId };
  }

  async inspect(): Promise<ExecutionStatus> {
    return { state: 'running' };
  }

  // A cancelled task ends (its exit pushed), freeing the one task slot for the next round's.
  async cancel(handle: ExecutionHandle): Promise<void> {
    queueMicrotask(() => {
      for (const listener of this.#listeners) listener(handle.executionId, { state: 'exited', outcome: 'cancelled', exitCode: 130 });
    });
  }

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export default async function runGrowthBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-growth-'));
  const storage = createInMemoryStorageProvider();
  const executor = new PlannerExecutor(storage);
  // One task at a time: the items added wait ready, as the bench measures them.
  const engine = createEngine({
    database: join(directory, 'engine.db'),
    executors: { planner: executor },
    storage,
    signer: createInMemorySigner(),
    concurrency: 1,
    reconcileIntervalMs: 60_000,
    inboxPollMs: false,
  });
  engine.start();
  try {
    log(`  ${rounds} rounds in turns: submit ${items} items as a spec; a planner emitting ${items}; submit ${elements}; a forEach over ${elements}`);
    const submitted: number[] = [];
    const emitted: number[] = [];
    const submittedElements: number[] = [];
    const expanded: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const started = performance.now();
      const spec = engine.submit({ version: 1, name: `spec-${round}`, items: fragmentItems }, { actor });
      submitted.push(performance.now() - started);
      engine.cancelRun(spec.runId, actor);

      const { runId } = engine.submit({ version: 1, name: `plan-${round}`, items: [{ id: 'plan', runtime: command, emits: { maxItems: items } }] }, { actor });
      // Ready to dispatch: all of them counted in the run, in the transaction that adds them.
      while (engine.run(runId)?.itemsTotal !== items + 1) await new Promise((resolve) => setImmediate(resolve));
      emitted.push(performance.now() - executor.endedAt);
      engine.cancelRun(runId, actor);

      const startedElements = performance.now();
      const elementSpec = engine.submit({ version: 1, name: `spec-${elements}-${round}`, items: elementItems }, { actor });
      submittedElements.push(performance.now() - startedElements);
      engine.cancelRun(elementSpec.runId, actor);

      const mapped = engine.submit(forEachSpec(round), { actor });
      // Ready to dispatch: the list, the forEach item and its instances, counted in the transaction that adds them.
      while (engine.run(mapped.runId)?.itemsTotal !== elements + 2) await new Promise((resolve) => setImmediate(resolve));
      expanded.push(performance.now() - executor.endedAt);
      engine.cancelRun(mapped.runId, actor);
    }
    const submitRow = recorded(`growth.submit-${items}.ms`, Math.round(median(submitted)), 'ms');
    // A tenth of a millisecond: the 1,000-item rows are a tenth the size.
    const tenths = (value: number) => Math.round(value * 10) / 10;
    const submitElementsRow = recorded(`growth.submit-${elements}.ms`, tenths(median(submittedElements)), 'ms');
    return [
      submitRow,
      atMostTimes(`growth.planner-${items}-ready.ms`, Math.round(median(emitted)), 'ms', submitRow, 1.5),
      submitElementsRow,
      atMostTimes(`growth.for-each-${elements}-ready.ms`, tenths(median(expanded)), 'ms', submitElementsRow, 1.5),
    ];
  } finally {
    await engine.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
