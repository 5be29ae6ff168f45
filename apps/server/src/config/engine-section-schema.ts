import { postgresStateSettingsSchema } from '@cairn/engine';
import { z } from 'zod';

/** `engine:`: limits, queues, aging, the log's origin, and where the engine's state lives (ADR 0023). */
export const engineSectionSchema = z
  .strictObject({
    concurrency: z.int().min(1).max(100_000).default(16),
    queues: z.record(z.string().min(1), z.strictObject({ concurrency: z.int().min(1).max(100_000) })).default({}),
    /**
     * Anti-starvation for run and item priorities: a ready item rises one priority level for every
     * this many seconds it waits, so a priority-1 item waits at most 4 × this behind fresh
     * priority-5 ones (the engine's `priorityAgingSeconds`).
     */
    priorityAgingSeconds: z.int().min(1).max(31_536_000).default(300),
    /** Names this server's log in its checkpoints. */
    origin: z.string().min(1).default('cairn:server'),
    /**
     * Where the engine's state lives (ADR 0023). `sqlite` (the default): one file in the data
     * directory, one server. `postgres`: a PostgreSQL database shared by any number of server
     * replicas, one of which runs the engine at a time; the connection falls back to libpq's
     * variables (`PGHOST`, `PGPASSWORD`, ...) for what it does not name.
     */
    state: z
      .discriminatedUnion(
        'kind',
        [
          z.strictObject({
            kind: z.literal('sqlite'),
            /** The database file; `<dataDirectory>/cairn.db` by default. */
            path: z.string().min(1, 'must name a file, e.g. ./cairn-data/cairn.db').optional(),
          }),
          postgresStateSettingsSchema,
        ],
        { error: "must be { kind: sqlite } or { kind: postgres, host, database, ... } (config.engine.state.kind is 'sqlite' or 'postgres')" },
      )
      .prefault({ kind: 'sqlite' }),
  })
  .prefault({});
