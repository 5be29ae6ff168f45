// A run that grows while it is read and cancelled, through the real server: planners add their
// fragments to one run until it holds every item, while a client reads the run
// (`GET /v1/runs/{id}`) every `pollMs`; then a second run grows the same way and the client
// cancels it (`POST /v1/runs/{id}/cancel`) once a read shows its first fragment joined. The client is a worker
// thread (growing-run-client.ts): a turn of the engine that holds the server's event loop shows
// as the time its requests wait.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { buildHttpApi, composeServer, initServer, loadServerConfig, type ServerComposition } from '@cairn/server';
import { canonicalJsonBytes } from '@cairn/protocol';
import { PlannerExecutor } from './planner-executor.ts';

const command = { kind: 'command' as const, argv: ['true'] };

export interface GrowingRunFigures {
  /** Every GET's time while the first run grew, ms, in the order sent. */
  readonly reads: readonly number[];
  /** From the first run's submit to every item in the run, ms. */
  readonly grownMs: number;
  /** A cancel of the first run once grown (every item not started cancelled in one transaction), through the service, ms. */
  readonly cancelGrownMs: number;
  /** The cancel's answer, ms. */
  readonly cancelMs: number;
  /** Every GET's time while the second run grew and was cancelled, ms. */
  readonly readsWhileCancelled: readonly number[];
  /** How many items the cancelled run held when the cancel answered, and when it ended. */
  readonly itemsAtCancel: number;
  readonly itemsCancelled: number;
}

interface ClientReport {
  readonly reads: number[];
  readonly cancel?: { readonly ms: number; readonly status: number; readonly itemsTotal: number };
}

/** `planners` planners of `itemsEach` items each; the client reads every `pollMs`. */
export async function growingRunFigures(planners: number, itemsEach: number, pollMs: number): Promise<GrowingRunFigures> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-growing-'));
  const fragment = canonicalJsonBytes({ items: Array.from({ length: itemsEach }, (_, index) => ({ id: `task-${index}`, runtime: command })) });
  let composition: ServerComposition | undefined;
  const executor = new PlannerExecutor(
    () => composition!.storage,
    (itemId) => (/^plan-\d+$/.test(itemId) ? fragment : undefined),
  );
  const { configFile, operatorToken } = await initServer(directory);
  const loaded = loadServerConfig({ file: configFile, env: {} });
  composition = await composeServer(loaded, { executors: { planner: executor } });
  const { service } = composition;
  const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: loaded.config.server.auth });
  composition.engine.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const actor = { kind: 'system', id: 'bench', via: 'engine' } as const;
  const spec = (name: string) => ({
    version: 1,
    name,
    items: Array.from({ length: planners }, (_, index) => ({ id: `plan-${index}`, runtime: command, emits: { maxItems: itemsEach } })),
  });
  const until = async (done: () => Promise<boolean>) => {
    while (!(await done())) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  const client = (runId: string, cancelAbove?: number) =>
    new Worker(new URL('./growing-run-client.ts', import.meta.url), { workerData: { base, token: operatorToken, runId, pollMs, cancelAbove } });
  const report = (worker: Worker) =>
    new Promise<ClientReport>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.postMessage('stop');
    });
  try {
    const target = planners * itemsEach + planners;
    const growing = await service.submit(spec('growing'), { actor });
    const reader = client(growing.runId);
    const submittedAt = performance.now();
    // Grown: every fragment in the run, and each planner's success recorded with its last step.
    await until(async () => {
      const run = await service.run(growing.runId);
      return run?.itemsTotal === target && run.itemsFinished === planners;
    });
    const grownMs = performance.now() - submittedAt;
    const { reads } = await report(reader);
    const cancelGrownStarted = performance.now();
    await service.cancelRun(growing.runId, actor);
    const cancelGrownMs = performance.now() - cancelGrownStarted;
    await until(async () => (await service.run(growing.runId))?.state === 'cancelled');

    const cancelled = await service.submit(spec('cancelled'), { actor });
    const canceller = client(cancelled.runId, planners);
    await until(async () => (await service.run(cancelled.runId))?.state === 'cancelled');
    const ended = (await service.run(cancelled.runId))!;
    const { reads: readsWhileCancelled, cancel } = await report(canceller);
    if (cancel?.status !== 202) throw new Error(`the cancel answered ${cancel?.status}`);
    return { reads, grownMs, cancelGrownMs, cancelMs: cancel.ms, readsWhileCancelled, itemsAtCancel: cancel.itemsTotal, itemsCancelled: ended.itemsTotal };
  } finally {
    await app.close();
    await composition.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
