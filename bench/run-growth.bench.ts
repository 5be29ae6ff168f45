// Runs that grow (ADR 0034): a planner emitting 10,000 items, from its task's end to all 10,000
// ready to dispatch, against submitting the same 10,000 items as a spec — both checked as a spec
// is, inserted and audited item by item — measured in turns in one process.
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

/**
 * Ends a planner's task at once, leaving what a worker leaves (its output and a result record),
 * and starts every other task without ending it: what is measured is the engine adding the items.
 */
class PlannerExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'planner';
  readonly capabilities = { cancel: true, pushesCompletions: true } as const;
  /** When the last planner's task ended (its exit pushed). */
  endedAt = 0;
  readonly #storage: StorageProviderV1;
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();

  constructor(storage: StorageProviderV1) {
    this.#storage = storage;
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const [runId, itemId] = task.executionId.split('/');
    if (itemId === 'plan') {
      const output = canonicalJsonBytes({ items: fragmentItems });
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

  async cancel(): Promise<void> {}

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
    log(`  ${rounds} rounds in turns: submit ${items} items as a spec; a planner emitting ${items}`);
    const submitted: number[] = [];
    const emitted: number[] = [];
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
    }
    const submitRow = recorded(`growth.submit-${items}.ms`, Math.round(median(submitted)), 'ms');
    return [submitRow, atMostTimes(`growth.planner-${items}-ready.ms`, Math.round(median(emitted)), 'ms', submitRow, 1.5)];
  } finally {
    await engine.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
