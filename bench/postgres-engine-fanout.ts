import { setTimeout as sleep } from 'node:timers/promises';
import { createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import type { Engine, PostgresStateSettings } from '@cairn/engine';
import { createPostgresEngineLeader, createPostgresStateStore, openPostgresEngineReads, type PostgresWriter } from '@cairn/engine/internals';
import { InstantExecutor } from './instant-executor.ts';
import { timeMilliseconds } from './measure.ts';
import type { PostgresServer } from './postgres-server.ts';

/** The group commits of one PostgreSQL round, counted by wrapping the leader's `writer.commit`. */
export interface CommitCounts {
  /** Transactions sent to PostgreSQL (`writer.commit` calls that had something to send). */
  commits: number;
  /** Rows they wrote (upserted or deleted), all tables. */
  rows: number;
  /** Milliseconds spent inside `writer.commit` (round trips and PostgreSQL's fsync included). */
  committingMs: number;
}

export interface PostgresEngineRunResult {
  readonly wall: number;
  readonly counts: CommitCounts;
  /** Whether the engine told its run waiter before a reader of the database saw the run's end. */
  readonly endedBeforeReadable: boolean;
  /**
   * The cluster's WAL fsyncs (pg_stat_wal's wal_sync) from before the leader started to after its
   * connections closed: the run's, the leader's start and stop included, as the SQLite count
   * includes the engine's start and close.
   */
  readonly walSyncs: number;
}

/**
 * Runs `items` as one run through an engine in PostgreSQL mode (ADR 0023): a fresh database on
 * `server`, a leader that takes the writer lease and runs the engine on its in-memory working copy
 * with group commits, the executor that completes at once, audit on, in-memory storage and
 * signer, as the SQLite round. Timed from the submit to the run's end as read from the database
 * by a reader connection (polled until it reads the end, should the engine's waiter be told first),
 * so the wall includes every commit the run needed.
 */
export async function runPostgresEngineItems(server: PostgresServer, items: readonly { id: string }[], concurrency: number): Promise<PostgresEngineRunResult> {
  const database = await server.createDatabase();
  try {
    const walSyncsBefore = await server.walSyncs();
    const result = await runOnDatabase(database.settings, items, concurrency);
    return { ...result, walSyncs: (await server.walSyncs()) - walSyncsBefore };
  } finally {
    await database.drop();
  }
}

async function runOnDatabase(
  settings: PostgresStateSettings,
  items: readonly { id: string }[],
  concurrency: number,
): Promise<Omit<PostgresEngineRunResult, 'walSyncs'>> {
  const counts: CommitCounts = { commits: 0, rows: 0, committingMs: 0 };
  const store = createPostgresStateStore(settings);
  const acquireWriter = store.acquireWriter.bind(store);
  store.acquireWriter = async (options) => countCommits(await acquireWriter(options), counts);
  const leader = createPostgresEngineLeader({
    store,
    instanceId: 'bench',
    engine: {
      executors: { instant: new InstantExecutor({ record: false }) },
      storage: createInMemoryStorageProvider(),
      signer: createInMemorySigner(),
      concurrency,
      reconcileIntervalMs: 60_000,
      inboxPollMs: false,
    },
  });
  const { reads, close } = openPostgresEngineReads(settings);
  try {
    leader.start();
    const engine = await leading(leader);
    // The lease, the load and the signer check are behind us: only the run is timed and counted.
    Object.assign(counts, { commits: 0, rows: 0, committingMs: 0 });
    let endedBeforeReadable = false;
    const wall = await timeMilliseconds(async () => {
      const { runId } = engine.submit(
        { version: 1, name: 'bench', items: items.map((item) => ({ ...item, runtime: { kind: 'command' as const, argv: ['true'] } })) },
        { actor: { kind: 'system', id: 'bench', via: 'engine' } },
      );
      await engine.waitForRun(runId);
      // The engine tells its waiters after the commit that ended the run; should a reader not see
      // the end yet, the wall runs on until it does (and the round says so).
      const deadline = performance.now() + 60_000;
      for (let stored = await reads.run(runId); stored?.state !== 'succeeded'; stored = await reads.run(runId)) {
        if (stored !== undefined && stored.state !== 'running') throw new Error(`the benchmark run reads ${stored.state} from PostgreSQL`);
        if (performance.now() > deadline)
          throw new Error(`the benchmark run still reads ${stored?.state ?? 'missing'} from PostgreSQL 60 s after the engine ended it`);
        endedBeforeReadable = true;
        await sleep(1);
      }
    });
    return { wall, counts: { ...counts }, endedBeforeReadable };
  } finally {
    await leader.stop();
    await close();
  }
}

async function leading(leader: { readonly engine: Engine | undefined; readonly refused: Error | undefined }): Promise<Engine> {
  const deadline = Date.now() + 30_000;
  while (!leader.engine) {
    if (leader.refused) throw leader.refused;
    if (Date.now() > deadline) throw new Error('the PostgreSQL leader did not take the writer lease within 30 s');
    await sleep(5);
  }
  return leader.engine;
}

function countCommits(writer: PostgresWriter, counts: CommitCounts): PostgresWriter {
  const commit = writer.commit.bind(writer);
  writer.commit = async (batch, answers) => {
    const started = performance.now();
    const outcome = await commit(batch, answers);
    counts.committingMs += performance.now() - started;
    if (outcome.rows > 0 || batch.tables.length > 0) counts.commits++;
    counts.rows += outcome.rows;
    return outcome;
  };
  return writer;
}
