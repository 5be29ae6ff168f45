import { hostname } from 'node:os';
import { CairnError, parseSettings } from '@cairn/protocol';
import { z } from 'zod';
import { createEngine, type Engine, type EngineSettings } from '../engine.ts';
import type { EngineService } from '../engine-service.ts';
import type { SignerTakeOver } from '../audit/checkpointer.ts';
import { postgresStateSettingsSchema } from '../store/postgres/postgres-settings.ts';

/** Where the engine's state lives: a SQLite file (one server), or a PostgreSQL database shared by replicas. */
export const engineStateSettingsSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('sqlite'), /** The database file (created if missing). */ path: z.string().min(1, 'must name a file') }),
    postgresStateSettingsSchema,
  ],
  { error: "must be { kind: sqlite, path } or { kind: postgres, host, database, ... } (kind is 'sqlite' or 'postgres')" },
);

export const engineHostSettingsSchema = z.strictObject({
  state: engineStateSettingsSchema,
  /** Everything the engine takes but its database, which `state` names (checked by `createEngine`). */
  engine: z.custom<Omit<EngineSettings, 'database'>>((value) => typeof value === 'object' && value !== null, 'must be the engine settings (createEngine)'),
  /** This process among the replicas of one PostgreSQL deployment; `<host>:<pid>` by default. */
  instanceId: z.string().min(1).optional(),
});

export type EngineHostSettings = Omit<z.input<typeof engineHostSettingsSchema>, 'engine'> & { readonly engine: Omit<EngineSettings, 'database'> };

/** Something that must run on one process of a deployment only (a host's webhook deliveries). */
export interface LeaderTask {
  start(): void;
  stop(): Promise<void>;
}

/** How a host runs the engine, whichever state store it is on. */
interface HostedEngine {
  engine(): Engine | undefined;
  readonly service: EngineService;
  start(): void;
  checkSigner(): Promise<SignerTakeOver | undefined>;
  close(): Promise<void>;
  leading(task: LeaderTask): LeaderTask;
}

/**
 * The engine as a host runs it (a server, an embedder), on SQLite or PostgreSQL alike: `service`
 * answers reads and takes commands on every process; `engine` is the engine this process runs —
 * always on SQLite, and on PostgreSQL only while this replica holds the writer lease (any number
 * of replicas may share one database; one runs the engine at a time). Made by `createEngineHost`.
 */
export class EngineHost {
  readonly #hosted: HostedEngine;
  readonly #state: 'sqlite' | 'postgres';

  private constructor(hosted: HostedEngine, state: 'sqlite' | 'postgres') {
    this.#hosted = hosted;
    this.#state = state;
  }

  /** @internal Use `createEngineHost`. */
  static async open(settings: EngineHostSettings): Promise<EngineHost> {
    const { state, instanceId } = parseSettings(engineHostSettingsSchema, settings, 'engine-host');
    const engineSettings = settings.engine;
    if (state.kind === 'sqlite') {
      const engine = createEngine({ ...engineSettings, database: state.path });
      return new EngineHost(
        {
          engine: () => engine,
          service: engine.service(),
          start: () => engine.start(),
          checkSigner: () => engine.checkSigner(),
          close: () => engine.close(),
          leading: (task) => task,
        },
        'sqlite',
      );
    }
    return new EngineHost(await replicaOf(state, engineSettings, instanceId), 'postgres');
  }

  /**
   * The engine this process runs. CAIRN_STATE_UNAVAILABLE on a PostgreSQL replica that does not
   * hold the writer lease now: ask `service`, which every replica answers.
   */
  get engine(): Engine {
    const engine = this.#hosted.engine();
    if (!engine)
      throw new CairnError('CAIRN_STATE_UNAVAILABLE', 'This replica does not run the engine now (another holds the writer lease): ask the service.', {
        path: 'state',
      });
    return engine;
  }

  /** Reads and commands, on every process (a follower forwards its commands to the leader). */
  get service(): EngineService {
    return this.#hosted.service;
  }

  /** Which state store it is on. */
  get state(): 'sqlite' | 'postgres' {
    return this.#state;
  }

  /** Starts the engine (SQLite), or the bid for the writer lease (PostgreSQL). */
  start(): void {
    this.#hosted.start();
  }

  /** Checks the signer before work starts, signing a key handover when the signer changed (SQLite; PostgreSQL's leader does it when it takes over). */
  checkSigner(): Promise<SignerTakeOver | undefined> {
    return this.#hosted.checkSigner();
  }

  /**
   * `task` as it should be started and stopped by a host that wants it on one process only: as it
   * is on SQLite; on PostgreSQL, running whenever this replica leads, from `start()` on.
   */
  whileLeading(task: LeaderTask): LeaderTask {
    return this.#hosted.leading(task);
  }

  /** Stops the engine (and the bid) and closes the state store. */
  close(): Promise<void> {
    return this.#hosted.close();
  }
}

/** The engine hosted over `settings.state` (a SQLite file, or PostgreSQL: its schema migrated first, so a database it cannot use stops the host here). */
export function createEngineHost(settings: EngineHostSettings): Promise<EngineHost> {
  return EngineHost.open(settings);
}

// PostgreSQL: this replica serves from the database and bids for the writer lease; it runs the
// engine while it holds it.
async function replicaOf(
  state: z.output<typeof postgresStateSettingsSchema>,
  engine: Omit<EngineSettings, 'database'>,
  instanceId: string | undefined,
): Promise<HostedEngine> {
  const [{ createPostgresStateStore }, { createPostgresEngineLeader }, { createPostgresEngineService }] = await Promise.all([
    import('../store/postgres/postgres-state-store.ts'),
    import('../store/postgres-engine-leader.ts'),
    import('../store/postgres/postgres-engine-service.ts'),
  ]);
  const store = createPostgresStateStore(state);
  await store.migrate();
  const leaderOnly = new Set<LeaderTask>();
  const leader = createPostgresEngineLeader({
    store,
    instanceId: instanceId ?? `${hostname()}:${process.pid}`,
    engine,
    onLeading: () => leaderOnly.forEach((task) => task.start()),
    onFollowing: () => leaderOnly.forEach((task) => void task.stop()),
    ...(engine.logger ? { logger: engine.logger } : {}),
  });
  const service = createPostgresEngineService({ state, store, leader, ...(engine.cipher ? { cipher: engine.cipher } : {}) });
  return {
    engine: () => leader.engine,
    service,
    start: () => leader.start(),
    // The leader checks the signer each time it takes the lease.
    checkSigner: async () => undefined,
    close: async () => {
      await leader.stop();
      await service.close();
    },
    leading: (task) => ({
      start: () => {
        leaderOnly.add(task);
        if (leader.engine) task.start();
      },
      stop: async () => {
        leaderOnly.delete(task);
        await task.stop();
      },
    }),
  };
}
