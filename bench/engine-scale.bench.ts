// The engine at scale, audit on, with an executor that completes at once: whether a scheduling
// decision costs the same with 50,000 finished items stored as with none, and the peak memory of
// one run of 100,000 independent items (in a process of its own).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInMemorySigner } from '@cairn/conformance/mocks';
import { createEngine, engineNodeFlags, type Engine } from '@cairn/engine';
import { createDiscardingStorage } from './discarding-storage.ts';
import { InstantExecutor } from './instant-executor.ts';
import { atMost, atMostTimes, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

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

function items100000({ log }: BenchmarkContext): BenchmarkRow[] {
  log("  one run of 100,000 independent items, in a process of its own (twice: with the engine's node flags, and without)");
  const child = join(dirname(fileURLToPath(import.meta.url)), 'engine-items-child.ts');
  // The same node and import conditions as this process, so the child loads the packages we do
  // (dist by default); other flags (an inspector port) stay with the parent.
  const conditions = process.execArgv.flatMap((flag, index, flags) =>
    /^(--conditions|-C)=/.test(flag) ? [flag] : flag === '--conditions' || flag === '-C' ? [flag, flags[index + 1]!] : [],
  );
  // As the server runs the engine (engineNodeFlags), and with Node's defaults, for comparison.
  const run = (flags: readonly string[]) => {
    const output = execFileSync(process.execPath, [...flags, ...conditions, child, '100000'], { encoding: 'utf8', maxBuffer: 1 << 20 });
    const report = JSON.parse(output.trim().split('\n').at(-1)!) as ItemsChildReport;
    log(
      `    ${flags.join(' ') || 'default flags'}: RSS ${Math.round(report.baselineRssMb)} MB at start, ${Math.round(report.afterSubmitRssMb)} MB peak by the end of submit (${Math.round(report.submitMs)} ms), ${Math.round(report.maxRssMb)} MB peak overall`,
    );
    return report;
  };
  const served = run(engineNodeFlags);
  const defaults = run([]);
  return [
    atMost('engine.items-100000.rss-mb', Math.round(served.maxRssMb), 'MB', 300),
    recorded('engine.items-100000.rss-mb-node-defaults', Math.round(defaults.maxRssMb), 'MB'),
    recorded('engine.items-100000.wall-ms', Math.round(served.wallMs), 'ms'),
  ];
}

function round3(milliseconds: number): number {
  return Number(milliseconds.toFixed(3));
}

export default async function engineScaleBenchmarks(context: BenchmarkContext): Promise<BenchmarkRow[]> {
  return [...(await history(context)), ...items100000(context)];
}
