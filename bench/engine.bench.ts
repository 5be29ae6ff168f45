// The engine end to end with an executor that completes at once (and pushes its exits), audit
// on: a 10,000-item fan-out, and a 1,000-item chain with the latency of each hop (a dependency's
// exit to its dependent's start).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createEngine } from '@cairn/engine';
import { InstantExecutor } from './instant-executor.ts';
import { atMost, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

async function runOnce(items: { id: string; dependsOn?: string[] }[], concurrency: number) {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-'));
  const executor = new InstantExecutor();
  const engine = createEngine({
    database: join(directory, 'engine.db'),
    executors: { instant: executor },
    storage: createInMemoryStorageProvider(),
    signer: createInMemorySigner(),
    concurrency,
    reconcileIntervalMs: 60_000,
  });
  try {
    engine.start();
    let runId = '';
    const wall = await timeMilliseconds(async () => {
      runId = engine.submit(
        { version: 1, name: 'bench', items: items.map((item) => ({ ...item, runtime: { kind: 'command' as const, argv: ['true'] } })) },
        { actor: { kind: 'system', id: 'bench', via: 'engine' } },
      ).runId;
      const run = await engine.waitForRun(runId);
      if (run.state !== 'succeeded') throw new Error(`the benchmark run ended ${run.state}`);
    });
    return { wall, executor, runId };
  } finally {
    await engine.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

export default async function engineBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  log('  10,000 independent items');
  const fanout = await runOnce(
    Array.from({ length: 10_000 }, (_, index) => ({ id: `item-${index}` })),
    1_000,
  );
  log('  a 1,000-item chain');
  const chain = await runOnce(
    Array.from({ length: 1_000 }, (_, index) => ({ id: `step-${index}`, ...(index ? { dependsOn: [`step-${index - 1}`] } : {}) })),
    16,
  );
  const hops = Array.from({ length: 999 }, (_, index) => {
    const exited = chain.executor.exitedAt.get(`${chain.runId}/step-${index}/1`)!;
    const next = chain.executor.startedAt.get(`${chain.runId}/step-${index + 1}/1`)!;
    return next - exited;
  });
  return [
    atMost('engine.fanout-10000.wall-ms', Math.round(fanout.wall), 'ms', 2_000),
    atMost('engine.chain-1000.wall-ms', Math.round(chain.wall), 'ms', 1_000),
    atMost('engine.chain-1000.hop-p50-ms', Number(percentile(hops, 0.5).toFixed(2)), 'ms', 1),
    atMost('engine.chain-1000.hop-p99-ms', Number(percentile(hops, 0.99).toFixed(2)), 'ms', 5),
    recorded('engine.fanout-10000.items-per-s', Math.round(10_000 / (fanout.wall / 1000)), 'items/s'),
  ];
}
