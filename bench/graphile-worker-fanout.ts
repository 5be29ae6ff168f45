// graphile-worker's durable peer row: a job queue in PostgreSQL. Durability as configured here:
// the bench's own PostgreSQL with its production defaults (fsync, synchronous_commit and
// full_page_writes on), so a job is in the WAL on disk once `addJobs` returns, and a completion
// (the job's row deleted) once its commit returns. graphile-worker's own settings are its
// defaults: no local queue and no batched completions (either holds jobs locked past their end,
// to be run again after a crash).
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, makeWorkerUtils, run, type WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import { timeMilliseconds } from './measure.ts';
import type { PostgresServer } from './postgres-server.ts';

/** Warnings and errors only: graphile-worker logs every job at `info`. */
const quietLogger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') process.stderr.write(`[graphile-worker] ${level}: ${message}\n`);
});

/**
 * `count` no-op jobs through a fresh database on `server`, one runner at `concurrency` on a pool of
 * the size graphile-worker's documentation recommends (`concurrency + 2`), the jobs added in bulk
 * (`addJobs`, slices of 1,000 as BullMQ's `addBulk`). Timed from the first add until PostgreSQL
 * holds no job, every completion committed; the schema's migration and the runner's start are
 * outside the span. Returns the wall time in milliseconds.
 */
export async function graphileWorkerFanout(server: PostgresServer, count: number, concurrency: number): Promise<{ wallMs: number }> {
  const database = await server.createDatabase();
  try {
    // The pool is the bench's, not graphile-worker's: graphile-worker ends a pool of its own
    // without waiting for its connections to close, and stops listening for their errors first.
    const pool = new pg.Pool({ connectionString: database.connectionString, max: concurrency + 2 });
    // Both of pg's error events, as graphile-worker asks of a pool it is given: an idle client's
    // (on the pool) and a checked-out client's (on the client).
    const reportError = (error: Error) => process.stderr.write(`[graphile-worker] pool: ${error.message}\n`);
    pool.on('error', reportError);
    pool.on('connect', (client) => client.on('error', reportError));
    try {
      const utilities = await makeWorkerUtils({ pgPool: pool, logger: quietLogger });
      try {
        await utilities.migrate();
        return await timedRun(pool, utilities, count, concurrency);
      } finally {
        await utilities.release();
      }
    } finally {
      await pool.end();
    }
  } finally {
    await database.drop();
  }
}

async function timedRun(pool: pg.Pool, utilities: WorkerUtils, count: number, concurrency: number): Promise<{ wallMs: number }> {
  let succeeded = 0;
  let failed: unknown;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const runner = await run({
    pgPool: pool,
    concurrency,
    noHandleSignals: true,
    logger: quietLogger,
    taskList: { 'no-op': async () => undefined },
  });
  runner.events.on('job:success', () => {
    if (++succeeded === count) finish();
  });
  runner.events.on('job:error', ({ error }) => {
    failed = error;
    finish();
  });
  const jobsLeft = () =>
    utilities.withPgClient(async (client) => Number((await client.query<{ count: string }>('SELECT count(*) FROM graphile_worker.jobs')).rows[0]!.count));
  try {
    const wallMs = await timeMilliseconds(async () => {
      for (let first = 0; first < count; first += 1_000) {
        await utilities.addJobs(
          Array.from({ length: Math.min(1_000, count - first) }, (_, index) => ({ identifier: 'no-op', payload: { index: first + index } })),
        );
      }
      await finished;
      if (failed) throw new Error(`a graphile-worker job failed: ${String(failed)}`);
      // The worker tells of a success before it records the completion (it deletes the job's row
      // without waiting for it): the clock runs until PostgreSQL holds no job.
      const deadline = performance.now() + 60_000;
      for (let left = await jobsLeft(); left > 0; left = await jobsLeft()) {
        if (performance.now() > deadline) throw new Error(`graphile-worker's queue still holds ${left} of ${count} jobs 60 s after the last success`);
        await sleep(1);
      }
    });
    return { wallMs };
  } finally {
    await runner.stop();
  }
}
