import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createEngine, type EngineDatabase } from '@cairn/engine';
import { InstantExecutor } from './instant-executor.ts';
import { wallAndCpu } from './measure.ts';

/** The fan-out's size and concurrency, shared by the engine's, its peers' and the server's rows. */
export const fanoutItems = 10_000;
export const fanoutConcurrency = 50;

export interface EngineRunResult {
  readonly wall: number;
  /** This process's CPU time over the same span, every thread (the engine and its executor are all in it). */
  readonly cpu: number;
  readonly executor: InstantExecutor;
  readonly runId: string;
}

/** A database handle the engine is given open (for the counting wrappers), opened in `directory`. */
export type OpenDatabase = (path: string) => EngineDatabase;

/**
 * Runs `items` as one run through a fresh engine (SQLite in a temp folder, the executor that
 * completes at once, audit on, in-memory storage and signer) and times submit to the run's end,
 * wall and CPU.
 * `openDatabase` lets a caller hand the engine a wrapped handle (statement counting).
 */
export async function runEngineItems(
  items: readonly { id: string; dependsOn?: string[] }[],
  concurrency: number,
  openDatabase?: OpenDatabase,
): Promise<EngineRunResult> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-'));
  const executor = new InstantExecutor();
  const path = join(directory, 'engine.db');
  const database = openDatabase ? openDatabase(path) : path;
  const engine = createEngine({
    database,
    executors: { instant: executor },
    storage: createInMemoryStorageProvider(),
    signer: createInMemorySigner(),
    concurrency,
    reconcileIntervalMs: 60_000,
  });
  try {
    engine.start();
    let runId = '';
    const { wallMs: wall, cpuMs: cpu } = await wallAndCpu(async () => {
      runId = engine.submit(
        { version: 1, name: 'bench', items: items.map((item) => ({ ...item, runtime: { kind: 'command' as const, argv: ['true'] } })) },
        { actor: { kind: 'system', id: 'bench', via: 'engine' } },
      ).runId;
      const run = await engine.waitForRun(runId);
      if (run.state !== 'succeeded') throw new Error(`the benchmark run ended ${run.state}`);
    });
    return { wall, cpu, executor, runId };
  } finally {
    await engine.close();
    // An engine closes only a database it opened itself.
    if (typeof database !== 'string' && database.open) database.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

/** `count` independent items. */
export function independentItems(count: number): { id: string }[] {
  return Array.from({ length: count }, (_, index) => ({ id: `item-${index}` }));
}
