import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditActor, AuditAnchorV1, CipherV1, SignerV1, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider, type InMemoryExecutorRegistry } from '@cairn/conformance/mocks';
import { afterEach } from 'vitest';
import { createEngine, type Engine, type EngineSettings } from './engine.ts';

export const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };

/** Options of a test engine; anything else is the engine's own setting. */
export interface TestEngineOptions extends Partial<
  Pick<EngineSettings, 'approvalTimeoutMs' | 'observer' | 'concurrency' | 'logger' | 'inboxPollMs' | 'manifestSigner' | 'commit'>
> {
  readonly path?: string;
  readonly registry?: InMemoryExecutorRegistry;
  readonly reconcileIntervalMs?: number;
  readonly anchors?: AuditAnchorV1[];
  readonly cipher?: CipherV1;
  /** The checkpoint signer; an in-memory Ed25519 one by default. */
  readonly signer?: SignerV1;
}

/**
 * Engines over real SQLite in temp directories, with in-memory seams, closed and removed after
 * each test. The task body reads its argv from the manifest the engine stored, as a worker would:
 * `sleep N` takes N ms (stoppable), `exit N` exits N, anything else exits 0 at once. What each
 * task received (how often it ran, its out-of-band secrets) is recorded by execution id.
 */
export function engineHarness() {
  const directories: string[] = [];
  const engines: Engine[] = [];
  const runs = new Map<string, number>();
  const secretsReceived = new Map<string, Readonly<Record<string, string>> | undefined>();
  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.close();
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  const databasePath = (): string => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-engine-'));
    directories.push(directory);
    return join(directory, 'engine.db');
  };

  const engineWith = (options: TestEngineOptions = {}) => {
    const storage = createInMemoryStorageProvider();
    const signer = options.signer ?? createInMemorySigner();
    const body = harnessTask(storage, runs, secretsReceived);
    const executor = createInMemoryExecutor({ run: body, ...(options.registry ? { registry: options.registry } : {}) });
    const { path, registry: _registry, reconcileIntervalMs, anchors, signer: _signer, ...settings } = options;
    const engine = createEngine({
      database: path ?? databasePath(),
      executors: { local: executor },
      storage,
      signer,
      reconcileIntervalMs: reconcileIntervalMs ?? 20,
      // The harness's executor does not time its tasks out: the engine's deadline is the only one.
      timeoutGraceMs: 0,
      anchors: anchors ?? [],
      ...settings,
    });
    engines.push(engine);
    return { engine, executor, storage, signer };
  };

  return { databasePath, engineWith, runs, secretsReceived };
}

/**
 * The task body of a harness executor: it reads its argv from the manifest the engine stored, as a
 * worker would (`sleep N` takes N ms and is stoppable, `exit N` exits N, anything else exits 0),
 * counting its runs and keeping the secrets it received by execution id.
 */
export function harnessTask(
  storage: StorageProviderV1,
  runs: Map<string, number>,
  secretsReceived: Map<string, Readonly<Record<string, string>> | undefined>,
): (task: TaskEnvelope, signal: AbortSignal) => Promise<number> {
  const argvOf = async (task: TaskEnvelope) => {
    const envelope = JSON.parse(new TextDecoder().decode((await storage.get(`manifests/${task.manifestDigest.slice(7)}.json`))!));
    const manifest = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
    return manifest.runtime.argv as string[];
  };
  return async (task, signal) => {
    runs.set(task.executionId, (runs.get(task.executionId) ?? 0) + 1);
    secretsReceived.set(task.executionId, task.secrets);
    const argv = await argvOf(task);
    if (argv[0] === 'sleep') await sleep(Number(argv[1]), undefined, { signal }).catch(() => undefined);
    if (signal.aborted) return 130;
    return argv[0] === 'exit' ? Number(argv[1]) : 0;
  };
}

/** Polls `condition` every 5 ms for up to 2 s. */
export async function eventually(condition: () => boolean): Promise<void> {
  for (let wait = 0; wait < 400 && !condition(); wait++) await sleep(5);
}

/** Everything an async iterable yields (`Array.fromAsync`, which the compile target lacks). */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of iterable) values.push(value);
  return values;
}
