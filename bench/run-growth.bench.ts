// Runs that grow (ADR 0034): a planner emitting 10,000 items, from its task's end to all 10,000
// ready to dispatch, against submitting the same 10,000 items as a spec — both checked as a spec
// is, inserted and audited item by item — and a `forEach` item mapping over a 1,000-element list,
// from its producer's end to its 1,000 instances ready, against submitting 1,000 items as a spec;
// measured in turns in one process. Then a run grown to 96,010 items through the server, read and
// cancelled by a client while it grows (growing-run-reads.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createEngine } from '@cairn/engine';
import { canonicalJsonBytes } from '@cairn/protocol';
import { growingRunFigures } from './growing-run-reads.ts';
import { atMost, atMostTimes, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';
import { PlannerExecutor } from './planner-executor.ts';

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

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export default async function runGrowthBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  return [...(await inTurnsRows(log)), ...(await whileGrowingRows(log))];
}

async function inTurnsRows(log: BenchmarkContext['log']): Promise<BenchmarkRow[]> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-growth-'));
  const storage = createInMemoryStorageProvider();
  const executor = new PlannerExecutor(
    () => storage,
    (itemId) => outputs.get(itemId),
  );
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
      // Ready to dispatch: all of them in the run, and the planner's success recorded with the last.
      const ready = (run = engine.run(runId)) => run?.itemsTotal === items + 1 && run.itemsFinished === 1;
      while (!ready()) await new Promise((resolve) => setImmediate(resolve));
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

/**
 * A run that 10 planners grow to 96,010 items through the server, read every 20 ms
 * (`GET /v1/runs/{id}`, p99) and, grown again, cancelled once its first fragment has joined: a
 * client waits less than a second for either however large the run grows.
 */
async function whileGrowingRows(log: BenchmarkContext['log']): Promise<BenchmarkRow[]> {
  const planners = 10;
  const each = 9_600;
  const size = planners * each;
  log(`  a run grown by ${planners} planners to ${size} items through the server: GET it every 20 ms, then cancel one as it grows`);
  const figures = await growingRunFigures(planners, each, 20);
  log(`    ${figures.reads.length} reads; cancelled at ${figures.itemsAtCancel} items, ended with ${figures.itemsCancelled}`);
  return [
    recorded(`growth.grow-${size}.ms`, Math.round(figures.grownMs), 'ms'),
    atMost(`growth.get-run-while-growing-${size}.p99.ms`, Math.round(percentile(figures.reads, 0.99)), 'ms', 1_000),
    recorded(`growth.get-run-while-growing-${size}.max.ms`, Math.round(Math.max(...figures.reads, ...figures.readsWhileCancelled)), 'ms'),
    atMost(`growth.cancel-while-growing-${size}.ms`, Math.round(figures.cancelMs), 'ms', 1_000),
    // Not yet bounded: a grown run's cancel ends its 96,000 items in one transaction.
    recorded(`growth.cancel-grown-${size}.ms`, Math.round(figures.cancelGrownMs), 'ms'),
  ];
}

function percentile(values: readonly number[], rank: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(rank * sorted.length))]!;
}
