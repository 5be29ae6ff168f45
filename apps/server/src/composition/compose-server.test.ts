// composeServer over a config `cairn init` wrote, with an executor given in place of the
// configured one: the engine dispatches onto it, with manifests signed and stored as usual.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionHandle, ExecutionStatus, ExecutorV1, TaskEnvelope } from '@cairn/core';
import { manifestKey } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { initServer } from '../cli/init-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { composeServer, type ServerComposition } from './compose-server.ts';

/** Succeeds each task once it has read its manifest from the server's storage; keeps what it read. */
class ManifestReadingExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'manifest-reading';
  readonly capabilities = { cancel: false, pushesCompletions: true } as const;
  readonly manifests = new Map<string, string>();
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();
  constructor(readonly composition: () => ServerComposition) {}

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const bytes = await this.composition().storage.get(manifestKey(task.manifestDigest));
    if (bytes === null) throw new Error(`no manifest ${task.manifestDigest} in storage`);
    this.manifests.set(task.executionId, new TextDecoder().decode(bytes));
    setImmediate(() => {
      for (const listener of this.#listeners) listener(task.executionId, { state: 'exited', outcome: 'succeeded', exitCode: 0 });
    });
    return { executor: this.provider, executionId: task.executionId };
  }

  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    return this.manifests.has(handle.executionId) ? { state: 'exited', outcome: 'succeeded', exitCode: 0 } : { state: 'unknown' };
  }

  async cancel(): Promise<void> {}

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }
}

const directories: string[] = [];
const compositions: ServerComposition[] = [];
afterEach(async () => {
  for (const composition of compositions.splice(0)) await composition.close();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

test('executors given to composeServer replace the configured one; items that name none use the first', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-compose-'));
  directories.push(directory);
  await initServer(directory);
  let composition: ServerComposition | undefined;
  const executor = new ManifestReadingExecutor(() => composition!);
  composition = await composeServer(loadServerConfig({ directory, env: {} }), { executors: { mine: executor } });
  compositions.push(composition);
  composition.engine.start();
  const actor = { kind: 'user', id: 'tester', via: 'engine' } as const;
  const items = [
    { id: 'a', runtime: { kind: 'command', argv: ['true'] } },
    { id: 'b', dependsOn: ['a'], runtime: { kind: 'command', argv: ['true'] } },
  ];
  const { runId } = composition.engine.submit({ version: 1, name: 'given', items }, { actor });
  const run = await composition.engine.waitForRun(runId);
  expect(run.state).toBe('succeeded');
  expect([...executor.manifests.keys()].sort()).toEqual([`${runId}/a/1`, `${runId}/b/1`]);
  for (const text of executor.manifests.values())
    expect(JSON.parse(text)).toMatchObject({ payloadType: expect.any(String), signatures: [expect.objectContaining({ keyid: expect.any(String) })] });
  // The configured executor is gone: a spec naming it is refused at submit.
  expect(() =>
    composition.engine.submit({ version: 1, name: 'local', items: [{ id: 'x', executor: 'local', runtime: { kind: 'command', argv: ['true'] } }] }, { actor }),
  ).toThrow(/local/);
});
