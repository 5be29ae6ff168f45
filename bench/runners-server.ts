// The reference server as the runner benchmarks run it: `cairn init`'s config with runners
// enabled beside the configured executor, the engine's concurrency set, the HTTP API on 127.0.0.1:0,
// and runner tokens (`runners:run`) made on it. runners.bench.ts runs it in its own process (local
// executor and a `cairn runner` daemon); runners-server-child.ts in a process of its own (the
// instant executor and simulated runners).
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutorV1, RunSpecV1 } from '@cairn/core';
import { removeWithMounts } from '@cairn/local';
import { buildHttpApi, composeServer, initServer, loadServerConfig, type ServerComposition } from '@cairn/server';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export interface RunnersServer {
  readonly base: string;
  readonly operatorToken: string;
  readonly composition: ServerComposition;
  readonly directory: string;
  /** A new `runners:run` token, for a runner of this name. */
  runnerToken(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts the server. `executors` replaces the configured local executor (the `runners` executor is
 * the runners module's, beside them either way); `leaseSeconds` is the runners' lease.
 */
export async function startRunnersServer(options: {
  readonly concurrency: number;
  readonly executors?: Readonly<Record<string, ExecutorV1>>;
  readonly leaseSeconds?: number;
}): Promise<RunnersServer> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-runners-'));
  // Sandboxes start as their own uids and must pass through to their workspaces.
  chmodSync(directory, 0o711);
  const { configFile, operatorToken } = await initServer(directory);
  const starter = parseYaml(readFileSync(configFile, 'utf8')) as { engine?: Record<string, unknown> };
  writeFileSync(
    configFile,
    stringifyYaml({
      ...starter,
      engine: { ...starter.engine, concurrency: options.concurrency },
      runners: { enabled: true, leaseSeconds: options.leaseSeconds ?? 30 },
    }),
  );
  const loaded = loadServerConfig({ file: configFile, env: {} });
  const composition = await composeServer(loaded, options.executors ? { executors: options.executors } : {});
  const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: loaded.config.server.auth });
  composition.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    base,
    operatorToken,
    composition,
    directory,
    runnerToken: async (name) => (await composition.tokens.create(name, ['runners:run'])).token,
    async close() {
      await app.close();
      await composition.close();
      // An attempt a runner still ran keeps its workspace mounted.
      removeWithMounts(directory);
    },
  };
}

/** A run of `count` items running `true`, on `executor`. */
export function trueRun(name: string, count: number, executor: string): RunSpecV1 {
  return {
    version: 1,
    name,
    defaults: { executor },
    items: Array.from({ length: count }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['true'] } })),
  };
}
