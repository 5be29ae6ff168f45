import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditActor, AuditAnchorV1, CipherV1, SignerV1, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { storedManifestPayload } from '@cairn/audit';
import { blobKey, canonicalJsonBytes, resultKey, sha256Digest } from '@cairn/protocol';
import { createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider, type InMemoryExecutorRegistry } from '@cairn/conformance/mocks';
import { afterEach, expect } from 'vitest';
import type { EngineDatabase } from './store/shared/engine-database.ts';
import { openEngineDatabase } from './store/sqlite/open-engine-database.ts';
import { createEngine, type Engine, type EngineSettings } from './engine.ts';
import { captureChanges } from './store/change-capture.ts';
import type { EngineReads } from './store/engine-reads.ts';
import { GroupCommitter } from './store/group-committer.ts';
import { openPostgresEngineReads } from './store/postgres/postgres-engine-reads.ts';
import { createPostgresStateStore } from './store/postgres/postgres-state-store.ts';
import type { PostgresWriter } from './store/postgres/postgres-writer.ts';
import { createTestDatabase, workingCopyContents, type TestDatabase } from './store/postgres/postgres.test-support.ts';

/**
 * Where a test engine keeps its state: `sqlite`, a database file (each transaction its commit), or
 * `postgres` (ADR 0023), an in-memory working copy loaded from a PostgreSQL database of its own,
 * committed to it by the store's group commit.
 */
export type EngineBackend = 'sqlite' | 'postgres';

/** Both backends, for `describe.each(backends)`: one test body runs on each, its backend in its name. */
export const backends: readonly EngineBackend[] = ['sqlite', 'postgres'];

export const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };

/** Options of a test engine; anything else is the engine's own setting. */
export interface TestEngineOptions extends Partial<
  Pick<
    EngineSettings,
    | 'approvalTimeoutMs'
    | 'observer'
    | 'concurrency'
    | 'logger'
    | 'inboxPollMs'
    | 'manifestSigner'
    | 'commit'
    | 'checkpoints'
    | 'now'
    | 'priorityAgingSeconds'
    | 'networkPolicy'
  >
> {
  readonly path?: string;
  readonly registry?: InMemoryExecutorRegistry;
  readonly reconcileIntervalMs?: number;
  readonly anchors?: AuditAnchorV1[];
  readonly cipher?: CipherV1;
  /** The checkpoint signer; an in-memory Ed25519 one by default. */
  readonly signer?: SignerV1;
  /** The executor's task body over the engine's storage, in place of `harnessTask`'s (a stand-in worker). */
  readonly task?: (storage: StorageProviderV1) => (task: TaskEnvelope, signal: AbortSignal) => Promise<number>;
}

/** The PostgreSQL side of one `path`: its database, and the writer and working copy of the engine that holds it now. */
interface PostgresState {
  database?: Promise<TestDatabase>;
  holder?: { writer: PostgresWriter; workingCopy: EngineDatabase; committer: GroupCommitter; engine: Engine } | undefined;
  /** Working copies of engines that lost the lease to a restart (closed with the test: their engine may still run). */
  readonly replaced: EngineDatabase[];
}

/**
 * Engines over a real state store, with in-memory seams, closed and removed after each test. On
 * `sqlite` (the default) each engine opens a database file in a temp directory. On `postgres` each
 * `path` names a fresh test database (created at its first engine): an engine takes the writer
 * lease, loads a working copy from it and commits to it in group commits, as a leader does. A
 * second engine on the same `path` is a restart: the lease is taken from the engine before it (as
 * when its process dies) and a new working copy is loaded, so whatever that engine had not
 * committed is lost, as in production. After each PostgreSQL test the last engine's working copy,
 * its last changes committed, must equal a fresh load of the database: every change the engine
 * made reaches PostgreSQL through change capture and the group commit.
 *
 * The task body reads its argv from the manifest the engine stored, as a worker would:
 * `sleep N` takes N ms (stoppable), `exit N` exits N, `emit TEXT` writes TEXT as its output (and
 * a result record naming it, as a worker does; `emit-items N ARGV...` a fragment of N items running
 * ARGV), anything else exits 0 at once. What each
 * task received (how often it ran, its out-of-band secrets) is recorded by execution id.
 */
export function engineHarness(backend: EngineBackend = 'sqlite') {
  const directories: string[] = [];
  const engines: Engine[] = [];
  const postgres = new Map<string, PostgresState>();
  const runs = new Map<string, number>();
  const secretsReceived = new Map<string, Readonly<Record<string, string>> | undefined>();
  const readers: (() => Promise<void>)[] = [];
  let paths = 0;
  afterEach(async () => {
    for (const close of readers.splice(0)) await close();
    for (const engine of engines.splice(0)) await engine.close();
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
    const states = [...postgres.values()];
    postgres.clear();
    try {
      for (const state of states) await checkStoredEqualsWorkingCopy(state);
    } finally {
      for (const state of states) {
        await state.holder?.writer.release();
        state.holder?.workingCopy.close();
        for (const workingCopy of state.replaced) workingCopy.close();
        await (await state.database?.catch(() => undefined))?.drop();
      }
    }
    // Loading a large state back for the check takes longer than vitest's default hook timeout.
  }, 60_000);

  const databasePath = (): string => {
    if (backend === 'postgres') return `postgres-${++paths}`;
    const directory = mkdtempSync(join(tmpdir(), 'cairn-engine-'));
    directories.push(directory);
    return join(directory, 'engine.db');
  };

  /** An engine on `path`'s database, loaded from PostgreSQL; the engine before it on `path` loses the lease. */
  const postgresEngine = async (path: string, settings: Omit<EngineSettings, 'database'>): Promise<Engine> => {
    let state = postgres.get(path);
    if (state === undefined) postgres.set(path, (state = { replaced: [] }));
    state.database ??= createTestDatabase();
    const database = await state.database;
    const previous = state.holder;
    state.holder = undefined;
    if (previous) {
      await previous.writer.release();
      state.replaced.push(previous.workingCopy);
    }
    const writer = await createPostgresStateStore(database.settings).acquireWriter({ instanceId: `test-${engines.length}` });
    const workingCopy = openEngineDatabase(':memory:');
    const capture = captureChanges(workingCopy);
    await writer.load(workingCopy, capture);
    const committer = new GroupCommitter(capture, writer);
    const engine = createEngine({ ...settings, database: workingCopy, commit: settings.commit ?? committer.commit });
    state.holder = { writer, workingCopy, committer, engine };
    return engine;
  };

  const engineWith = async (options: TestEngineOptions = {}) => {
    const storage = createInMemoryStorageProvider();
    const signer = options.signer ?? createInMemorySigner();
    const body = options.task ? options.task(storage) : harnessTask(storage, runs, secretsReceived);
    const executor = createInMemoryExecutor({ run: body, ...(options.registry ? { registry: options.registry } : {}) });
    const { path, registry: _registry, reconcileIntervalMs, anchors, signer: _signer, task: _task, ...settings } = options;
    const engineSettings = {
      executors: { local: executor },
      storage,
      signer,
      reconcileIntervalMs: reconcileIntervalMs ?? 20,
      // The harness's executor does not time its tasks out: the engine's deadline is the only one.
      timeoutGraceMs: 0,
      anchors: anchors ?? [],
      ...settings,
    };
    const engine =
      backend === 'postgres'
        ? await postgresEngine(path ?? databasePath(), engineSettings)
        : createEngine({ database: path ?? databasePath(), ...engineSettings });
    engines.push(engine);
    return { engine, executor, storage, signer };
  };

  /**
   * The store's reads of `engine`'s state: on `sqlite` the engine's own (`engine.reads`); on
   * `postgres` a replica's, from PostgreSQL, once the engine has committed what it wrote.
   */
  const storeReads = async (engine: Engine): Promise<EngineReads> => {
    if (backend === 'sqlite') return engine.reads;
    const state = [...postgres.values()].find((candidate) => candidate.holder?.engine === engine);
    if (state?.holder === undefined || state.database === undefined) throw new Error('not an engine of this harness that holds its lease');
    await state.holder.committer.commit();
    const { reads, close } = openPostgresEngineReads((await state.database).settings);
    readers.push(close);
    return reads;
  };

  return { backend, databasePath, engineWith, runs, secretsReceived, storeReads };
}

// The engine is closed: what it wrote since its last commit is committed, then a fresh working
// copy loaded from PostgreSQL must hold every row its own working copy holds.
async function checkStoredEqualsWorkingCopy(state: PostgresState): Promise<void> {
  const holder = state.holder;
  if (holder === undefined) return;
  await holder.committer.commit();
  const loaded = openEngineDatabase(':memory:');
  try {
    await holder.writer.load(loaded);
    expect(workingCopyContents(loaded), 'PostgreSQL holds what the working copy holds').toEqual(workingCopyContents(holder.workingCopy));
  } finally {
    loaded.close();
  }
}

const harnessGates = new Map<string, { readonly opened: Promise<void>; readonly open: () => void }>();

function harnessGate(name: string) {
  let gate = harnessGates.get(name);
  if (gate === undefined) {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    gate = { opened, open };
    harnessGates.set(name, gate);
  }
  return gate;
}

/** Lets a harness task `wait-for NAME` end (before it starts or while it waits). */
export function openHarnessGate(name: string): void {
  harnessGate(name).open();
}

/**
 * The task body of a harness executor: it reads its argv from the manifest the engine stored, as a
 * worker would (`sleep N` takes N ms and is stoppable, `exit N` exits N, `wait-for NAME [N]` runs until
 * the test calls `openHarnessGate(NAME)` and is stoppable, then exits N (0 by default), anything else exits 0),
 * counting its runs and keeping the secrets it received by execution id.
 */
export function harnessTask(
  storage: StorageProviderV1,
  runs: Map<string, number>,
  secretsReceived: Map<string, Readonly<Record<string, string>> | undefined>,
): (task: TaskEnvelope, signal: AbortSignal) => Promise<number> {
  const argvOf = async (task: TaskEnvelope) => {
    const envelope = JSON.parse(new TextDecoder().decode((await storage.get(`manifests/${task.manifestDigest.slice(7)}.json`))!));
    const manifest = JSON.parse(Buffer.from(storedManifestPayload(envelope), 'base64').toString('utf8'));
    // An agent item's manifest names no argv: its task ends at once, as `true` would.
    return { argv: (manifest.runtime.argv ?? ['true']) as string[], manifest };
  };
  // What a worker leaves for an attempt that wrote `output`: the bytes by digest and a result record naming them.
  const writeResult = async (task: TaskEnvelope, manifest: { runId: string; itemId: string; attempt: number }, output: string) => {
    // Canonical JSON, as a worker stores output.json (text that is not JSON kept as it is).
    const bytes = isJson(output) ? canonicalJsonBytes(JSON.parse(output)) : new TextEncoder().encode(output);
    const digest = sha256Digest(bytes);
    await storage.put(blobKey(digest), bytes);
    const empty = sha256Digest(new Uint8Array());
    await storage.put(blobKey(empty), new Uint8Array());
    const now = new Date().toISOString();
    const record = {
      version: 'cairn.result/v1',
      runId: manifest.runId,
      itemId: manifest.itemId,
      attempt: manifest.attempt,
      fencingToken: manifest.attempt,
      executionId: task.executionId,
      manifestDigest: task.manifestDigest,
      outcome: 'succeeded',
      exitCode: 0,
      startedAt: now,
      finishedAt: now,
      artifacts: { stdout: empty, stderr: empty, output: digest },
    };
    await storage.put(resultKey(task.executionId), new TextEncoder().encode(JSON.stringify(record)));
  };
  return async (task, signal) => {
    runs.set(task.executionId, (runs.get(task.executionId) ?? 0) + 1);
    secretsReceived.set(task.executionId, task.secrets);
    const { argv, manifest } = await argvOf(task);
    // `emit TEXT`: ends at once, having written TEXT as its output (a planner's fragment).
    if (argv[0] === 'emit') await writeResult(task, manifest, argv[1]!);
    // `emit-items N ARGV...`: a fragment too large for an argv, of N items `task-<i>` running ARGV,
    // each odd one after the even one before it.
    if (argv[0] === 'emit-items') await writeResult(task, manifest, JSON.stringify(pairedItems(Number(argv[1]), argv.slice(2))));
    if (argv[0] === 'sleep') await sleep(Number(argv[1]), undefined, { signal }).catch(() => undefined);
    if (argv[0] === 'wait-for')
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => resolve(), { once: true });
        void harnessGate(argv[1]!).opened.then(resolve);
      });
    if (signal.aborted) return 130;
    return argv[0] === 'exit' ? Number(argv[1]) : argv[0] === 'wait-for' ? Number(argv[2] ?? 0) : 0;
  };
}

/** The fragment of `emit-items`: `count` items running `argv`, each odd one after the even one before it. */
function pairedItems(count: number, argv: readonly string[]) {
  return {
    items: Array.from({ length: count }, (_, index) => ({
      id: `task-${index}`,
      runtime: { kind: 'command', argv },
      ...(index % 2 === 1 ? { dependsOn: [`task-${index - 1}`] } : {}),
    })),
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

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
