// The reference server as the server benchmarks run it (server.bench.ts in this process,
// server-items-child.ts in one of its own under strace), and the run they submit to it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunSpecV1 } from '@cairn/core';
import { createCairnClient } from '@cairn/client';
import { buildHttpApi, composeServer, initServer, loadServerConfig } from '@cairn/server';
import { fanoutConcurrency } from './engine-fanout.ts';
import { InstantExecutor } from './instant-executor.ts';
import { wallAndCpu } from './measure.ts';

const command = { kind: 'command' as const, argv: ['true'] };

export interface RunningServer {
  readonly base: string;
  readonly token: string;
  close(): Promise<void>;
}

/**
 * A server as `cairn serve` runs it (its webhook dispatcher too), on 127.0.0.1:0, with the instant executor and the engine's
 * concurrency at the fan-out's setting (50), as the engine-alone rows it is compared with.
 */
export async function startServer(): Promise<RunningServer> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-server-'));
  const { configFile, operatorToken } = await initServer(directory);
  // The starter config with the engine's concurrency set as the engine benchmarks run it.
  writeFileSync(configFile, readFileSync(configFile, 'utf8').replace(/concurrency: \d+/, `concurrency: ${fanoutConcurrency}`));
  const loaded = loadServerConfig({ file: configFile, env: {} });
  const composition = await composeServer(loaded, { executors: { instant: new InstantExecutor({ record: false }) } });
  const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: loaded.config.server.auth });
  composition.engine.start();
  // As `cairn serve` does: with no endpoint it reads nothing, and the rows say so by measuring it.
  composition.webhookDispatcher.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    base,
    token: operatorToken,
    async close() {
      await app.close();
      await composition.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export function noOpRun(name: string, count: number): RunSpecV1 {
  return { version: 1, name, items: Array.from({ length: count }, (_, index) => ({ id: `item-${index}`, runtime: command })) };
}

/**
 * POSTs one run of `count` no-op items and follows it to its end as `cairn submit --wait --quiet`
 * does (the client's waitForRun without onEvent: the run's stream with `?types=run.state`, so the
 * server reads the run's events but sends only its state changes); returns the wall time.
 */
export async function submitToCompletion(server: RunningServer, count: number): Promise<{ wallMs: number; cpuMs: number }> {
  const client = createCairnClient({ baseUrl: server.base, token: server.token });
  return wallAndCpu(async () => {
    const { runId } = await client.submit(noOpRun(`bench-${count}`, count));
    const run = await client.waitForRun(runId);
    if (run.state !== 'succeeded' || run.itemsFinished !== count)
      throw new Error(`the benchmark run ended ${run.state} with ${run.itemsFinished} of ${count} items`);
  });
}
