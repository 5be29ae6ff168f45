// The engine at scale, audit on, with an executor that completes at once: whether a scheduling
// decision costs the same with 50,000 finished items stored as with none, and the peak memory of
// one run of 100,000 items (in a process of its own).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createEngine, type Engine } from '@cairn/engine';
import { InstantExecutor } from './instant-executor.ts';
import { atMost, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const actor = { kind: 'system', id: 'bench', via: 'engine' } as const;
const command = { kind: 'command' as const, argv: ['true'] };

/** Median over runs of a chain's median hop (a dependency's exit to its dependent's start), in ms. */
async function decisionMs(engine: Engine, executor: InstantExecutor, rounds: number): Promise<number> {
  const medians: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const items = Array.from({ length: 200 }, (_, index) => ({ id: `step-${index}`, runtime: command, ...(index ? { dependsOn: [`step-${index - 1}`] } : {}) }));
    const { runId } = engine.submit({ version: 1, name: 'chain', items }, { actor });
    await engine.waitForRun(runId);
    const hops = items.slice(1).map((_, index) => executor.startedAt.get(`${runId}/step-${index + 1}/1`)! - executor.exitedAt.get(`${runId}/step-${index}/1`)!);
    medians.push(median(hops));
  }
  return median(medians);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function history({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-history-'));
  const executor = new InstantExecutor();
  const engine = createEngine({
    database: join(directory, 'engine.db'),
    executors: { instant: executor },
    storage: createInMemoryStorageProvider(),
    signer: createInMemorySigner(),
    concurrency: 1_000,
    reconcileIntervalMs: 60_000,
    inboxPollMs: false,
  });
  try {
    engine.start();
    log('  scheduling decisions on an empty database');
    const empty = await decisionMs(engine, executor, 5);
    log('  storing 50,000 finished items');
    for (let run = 0; run < 5; run++) {
      const items = Array.from({ length: 10_000 }, (_, index) => ({ id: `item-${index}`, runtime: command }));
      await engine.waitForRun(engine.submit({ version: 1, name: `history-${run}`, items }, { actor }).runId);
    }
    log('  scheduling decisions with 50,000 finished items stored');
    const loaded = await decisionMs(engine, executor, 5);
    // "The same as empty": within half again, or 0.1 ms, whichever is more (sub-millisecond noise).
    return [
      recorded('engine.history-empty.decision-ms', round(empty), 'ms'),
      atMost('engine.history-50000.decision-ms', round(loaded), 'ms', round(Math.max(empty * 1.5, empty + 0.1))),
    ];
  } finally {
    await engine.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

function items100000({ log }: BenchmarkContext): BenchmarkRow[] {
  log('  one run of 100,000 items, in a process of its own');
  const child = join(dirname(fileURLToPath(import.meta.url)), 'engine-items-child.ts');
  const output = execFileSync(process.execPath, [child, '100000'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const { maxRssMb, wallMs } = JSON.parse(output.trim().split('\n').at(-1)!) as { maxRssMb: number; wallMs: number };
  return [atMost('engine.items-100000.rss-mb', Math.round(maxRssMb), 'MB', 300), recorded('engine.items-100000.wall-ms', Math.round(wallMs), 'ms')];
}

function round(milliseconds: number): number {
  return Number(milliseconds.toFixed(3));
}

export default async function engineScaleBenchmarks(context: BenchmarkContext): Promise<BenchmarkRow[]> {
  return [...(await history(context)), ...items100000(context)];
}
