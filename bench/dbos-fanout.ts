// DBOS's durable peer row: a durable workflow engine that is a library, its state in a PostgreSQL
// system database. Durability as configured here: the bench's own PostgreSQL with its production
// defaults (fsync, synchronous_commit and full_page_writes on), so DBOS's record of a started
// workflow, of its step's output and of its end is in the WAL on disk before the call that wrote
// it returns. DBOS's own settings are its defaults.
import { DBOS } from '@dbos-inc/dbos-sdk';
import { timeMilliseconds } from './measure.ts';
import type { PostgresServer } from './postgres-server.ts';

/**
 * `count` workflows of one no-op step each through DBOS on a fresh system database on `server`,
 * started `concurrency` at a time (each of `concurrency` lanes starts a workflow and awaits its
 * result, then starts the next). Through a DBOS queue of worker concurrency 50 instead (polled
 * every 10 ms, not its default second), 1,000 workflows took 1.8× as long here: each enqueue is a
 * transaction of its own and the queue is polled, so the lanes are DBOS's better showing. Timed from the first start to the last result;
 * launch and shutdown are outside the span. Returns the wall time in milliseconds.
 *
 * DBOS is one per process (a static singleton): each call launches it on its database and shuts
 * it down, its registrations cleared, so calls can follow each other in one process.
 */
export async function dbosFanout(server: PostgresServer, count: number, concurrency: number): Promise<{ wallMs: number }> {
  const database = await server.createDatabase();
  try {
    DBOS.setConfig({ name: 'cairn-bench', systemDatabaseUrl: database.connectionString, logLevel: 'warn' });
    const noOp = async () => undefined;
    const workflow = DBOS.registerWorkflow(
      async (index: number) => {
        await DBOS.runStep(noOp, { name: 'no-op' });
        return index;
      },
      { name: 'no-op-workflow' },
    );
    await DBOS.launch();
    try {
      let next = 0;
      const lane = async () => {
        while (next < count) {
          const index = next++;
          const handle = await DBOS.startWorkflow(workflow)(index);
          if ((await handle.getResult()) !== index) throw new Error(`DBOS's workflow ${index} returned another result`);
        }
      };
      return { wallMs: await timeMilliseconds(() => Promise.all(Array.from({ length: concurrency }, lane))) };
    } finally {
      await DBOS.shutdown({ deregister: true });
    }
  } finally {
    await database.drop();
  }
}
