// The engine at scale, audit on, with an executor that completes at once: whether a scheduling
// decision costs the same with 50,000 finished items stored as with none, and the peak memory and
// pace of one run of 100,000 independent items against runs of 10,000 (each in a process of its own).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemorySigner } from '@cairn/conformance/mocks';
import { createEngine, engineNodeFlags, type Engine } from '@cairn/engine';
import { childNodeArgv, lastJsonLine } from './child-node.ts';
import { createDiscardingStorage } from './discarding-storage.ts';
import { fanoutConcurrency } from './engine-fanout.ts';
import { InstantExecutor } from './instant-executor.ts';
import { atLeastTimes, atMost, atMostTimes, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const actor = { kind: 'system', id: 'bench', via: 'engine' } as const;
const command = { kind: 'command' as const, argv: ['true'] };
const chainLength = 200;
const rounds = 7;

/** An engine on a database of its own, with the executor whose start and exit times it records. */
function openEngine(directory: string, name: string): { engine: Engine; executor: InstantExecutor } {
  const executor = new InstantExecutor();
  const engine = createEngine({
    database: join(directory, `${name}.db`),
    executors: { instant: executor },
    storage: createDiscardingStorage(),
    signer: createInMemorySigner(),
    concurrency: 1_000,
    reconcileIntervalMs: 60_000,
    inboxPollMs: false,
  });
  engine.start();
  return { engine, executor };
}

/**
 * Runs a chain and returns its median hop: from a step's exit to the next step's start, which is
 * one scheduling decision (record the exit, release the dependent, pick it, sign and dispatch it).
 */
async function chainHopMs({ engine, executor }: { engine: Engine; executor: InstantExecutor }): Promise<number> {
  const items = Array.from({ length: chainLength }, (_, index) => ({
    id: `step-${index}`,
    runtime: command,
    ...(index ? { dependsOn: [`step-${index - 1}`] } : {}),
  }));
  const { runId } = engine.submit({ version: 1, name: 'chain', items }, { actor });
  const run = await engine.waitForRun(runId);
  if (run.state !== 'succeeded') throw new Error(`a chain run ended ${run.state}`);
  const hops = items.slice(1).map((_, index) => executor.startedAt.get(`${runId}/step-${index + 1}/1`)! - executor.exitedAt.get(`${runId}/step-${index}/1`)!);
  return median(hops);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function history({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-history-'));
  const empty = openEngine(directory, 'empty');
  const loaded = openEngine(directory, 'history');
  try {
    log('  storing 50,000 finished items (5 runs of 10,000)');
    for (let run = 0; run < 5; run++) {
      const items = Array.from({ length: 10_000 }, (_, index) => ({ id: `item-${index}`, runtime: command }));
      const finished = await loaded.engine.waitForRun(loaded.engine.submit({ version: 1, name: `history-${run}`, items }, { actor }).runId);
      if (finished.state !== 'succeeded') throw new Error(`a history run ended ${finished.state}`);
    }
    // Both databases in one process, measured in turns: JIT warm-up and a busy neighbour on this
    // shared machine weigh on both alike, so their ratio means something.
    log(`  scheduling decisions (${chainLength}-step chains), ${rounds} rounds on each database in turn`);
    const emptyHops: number[] = [];
    const loadedHops: number[] = [];
    for (let round = 0; round < rounds; round++) {
      emptyHops.push(await chainHopMs(empty));
      loadedHops.push(await chainHopMs(loaded));
    }
    const emptyRow = recorded('engine.empty.decision-ms', round3(median(emptyHops)), 'ms');
    return [emptyRow, atMostTimes('engine.history-50000.decision-ms', round3(median(loadedHops)), 'ms', emptyRow, 1.5)];
  } finally {
    await empty.engine.close();
    await loaded.engine.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

interface ItemsChildReport {
  readonly maxRssMb: number;
  readonly baselineRssMb: number;
  readonly afterSubmitRssMb: number;
  readonly wallMs: number;
  readonly submitMs: number;
}

/**
 * One run of `count` independent items at the fan-out's concurrency, in a process of its own (the
 * same Node and import conditions as this one) with node `flags`.
 */
function runItemsChild(count: number, flags: readonly string[]): ItemsChildReport {
  const [node, ...args] = childNodeArgv(flags, 'engine-items-child.ts', [String(count), String(fanoutConcurrency)]);
  return lastJsonLine<ItemsChildReport>(execFileSync(node!, args, { encoding: 'utf8', maxBuffer: 1 << 20 }));
}

/**
 * Peak memory at 100,000 items, and whether the engine keeps its pace at ten times the items
 * (100,000 items at the items/s of 10,000). The 10,000-item run goes before and after
 * the large ones and its mean is the baseline, so a neighbour's load drifting across the minute
 * of the large run weighs on both sides.
 */
function items100000({ log }: BenchmarkContext): BenchmarkRow[] {
  log(
    `  one run of 100,000 independent items at concurrency ${fanoutConcurrency}, in a process of its own (twice: with the engine's node flags, and without), between two runs of 10,000`,
  );
  // As the server runs the engine (engineNodeFlags), and with Node's defaults, for comparison.
  const run = (count: number, flags: readonly string[]) => {
    const report = runItemsChild(count, flags);
    log(
      `    ${count.toLocaleString('en-US')} items, ${flags.join(' ') || 'default flags'}: ${Math.round(report.wallMs)} ms; RSS ${Math.round(report.baselineRssMb)} MB at start, ${Math.round(report.afterSubmitRssMb)} MB peak by the end of submit (${Math.round(report.submitMs)} ms), ${Math.round(report.maxRssMb)} MB peak overall`,
    );
    return report;
  };
  const before = run(10_000, engineNodeFlags);
  const served = run(100_000, engineNodeFlags);
  const defaults = run(100_000, []);
  const after = run(10_000, engineNodeFlags);
  const smallRow = recorded('engine.items-10000.items-per-s', Math.round(10_000 / ((before.wallMs + after.wallMs) / 2 / 1000)), 'items/s');
  return [
    atMost('engine.items-100000.rss-mb', Math.round(served.maxRssMb), 'MB', 300),
    recorded('engine.items-100000.rss-mb-node-defaults', Math.round(defaults.maxRssMb), 'MB'),
    recorded('engine.items-100000.wall-ms', Math.round(served.wallMs), 'ms'),
    smallRow,
    atLeastTimes('engine.items-100000.items-per-s', Math.round(100_000 / (served.wallMs / 1000)), 'items/s', smallRow, 0.9),
  ];
}

function round3(milliseconds: number): number {
  return Number(milliseconds.toFixed(3));
}

export default async function engineScaleBenchmarks(context: BenchmarkContext): Promise<BenchmarkRow[]> {
  return [...(await history(context)), ...items100000(context)];
}
