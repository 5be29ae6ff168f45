import type { Logger } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol';
import { createEngine, type Engine, type EngineSettings } from '../engine.ts';
import { openEngineDatabase } from './sqlite/open-engine-database.ts';
import { captureChanges } from './change-capture.ts';
import { carryOutCommand } from './engine-commands.ts';
import { GroupCommitter } from './group-committer.ts';
import type { PostgresStateStore } from './postgres/postgres-state-store.ts';
import type { PostgresWriter } from './postgres/postgres-writer.ts';

/** Commands taken from `engine_commands` per read. */
const commandsPerTake = 100;

export interface PostgresEngineLeaderSettings {
  readonly store: PostgresStateStore;
  /** This replica's name in `engine_leader` (host and pid are recorded beside it). */
  readonly instanceId: string;
  /** The engine this replica runs while it holds the lease; its database and commit are the lease's. */
  readonly engine: Omit<EngineSettings, 'database' | 'commit'>;
  /** Told when this replica starts and stops running the engine (a server's readiness, its logs). */
  readonly onLeading?: (engine: Engine) => void;
  readonly onFollowing?: (why: Error | undefined) => void;
  readonly logger?: Logger;
}

/**
 * One replica's bid to run the engine in PostgreSQL mode (ADR 0023). It waits for the writer lease
 * (a session advisory lock); once it holds it, it loads the state into an in-memory working copy,
 * runs the engine on it with a group commit on the lease connection, and carries out the commands
 * other replicas send. When the lease is lost (its connection ends) the engine stops at once, the
 * working copy is dropped, and the replica waits for the lease again; running tasks are left to
 * whoever leads next, which re-attaches to them.
 */
export class PostgresEngineLeader {
  readonly #settings: PostgresEngineLeaderSettings;
  readonly #stopping = new AbortController();
  #loop: Promise<void> | undefined;
  #engine: Engine | undefined;
  #refused: Error | undefined;

  constructor(settings: PostgresEngineLeaderSettings) {
    this.#settings = settings;
  }

  /** The engine while this replica holds the lease; undefined otherwise. */
  get engine(): Engine | undefined {
    return this.#engine;
  }

  /**
   * Why this replica gave up bidding for good: its signer is not the audit log's key (nor hands it
   * over through `previousSigner`). It never holds the lease with a key it may not sign with.
   */
  get refused(): Error | undefined {
    return this.#refused;
  }

  start(): void {
    this.#loop ??= this.#bid();
  }

  /** Stops leading (the lease is released, running tasks keep running) and stops bidding. */
  async stop(): Promise<void> {
    this.#stopping.abort(new CairnError('CAIRN_STATE_UNAVAILABLE', 'The replica is stopping.'));
    await this.#loop;
  }

  async #bid(): Promise<void> {
    const { store, instanceId, logger } = this.#settings;
    const signal = this.#stopping.signal;
    while (!signal.aborted && !this.#refused) {
      let writer: PostgresWriter;
      try {
        await store.migrate();
        writer = await store.acquireWriter({ instanceId, signal });
      } catch (error) {
        if (signal.aborted) return;
        logger?.error({ error: String(error) }, 'waiting for the writer lease failed; trying again');
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        continue;
      }
      let why: Error | undefined;
      try {
        why = await this.#lead(writer);
      } catch (error) {
        why = error as Error;
        logger?.error({ error: String(error) }, 'leading the engine failed; the lease is given up');
      } finally {
        await writer.release().catch(() => {});
      }
      this.#settings.onFollowing?.(why);
    }
  }

  // Runs the engine until the lease is lost, a commit fails or the replica stops; returns why.
  async #lead(writer: PostgresWriter): Promise<Error | undefined> {
    const { logger } = this.#settings;
    const workingCopy = openEngineDatabase(':memory:');
    try {
      const capture = captureChanges(workingCopy);
      const loaded = await writer.load(workingCopy, capture);
      const committer = new GroupCommitter(capture, writer);
      const engine = createEngine({ ...this.#settings.engine, database: workingCopy, commit: committer.commit });
      try {
        // The signer is checked against the log (and a rotation handed over) before anything runs.
        await engine.checkSigner();
      } catch (error) {
        if (!isCairnError(error, 'CAIRN_CONFIG_INVALID')) throw error;
        this.#refused = error;
        logger?.error(
          { instanceId: writer.instanceId, error: error.message },
          "this replica's signer may not sign the audit log: it gives the lease up and bids no more",
        );
        await engine.close();
        return error;
      }
      logger?.info({ instanceId: writer.instanceId, rows: loaded }, 'holding the writer lease: the engine runs here');
      engine.start();
      this.#engine = engine;
      this.#settings.onLeading?.(engine);
      const commands = this.#commandPump(writer, engine, committer);
      // A stop asked for while the state was loading counts too (an aborted signal fires no more).
      const signal = this.#stopping.signal;
      const stopped = signal.aborted
        ? Promise.resolve(undefined)
        : new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
      const why = await Promise.race([writer.lost, committer.failed, stopped]);
      this.#engine = undefined;
      commands.stop();
      await engine.stop();
      if (why) logger?.warn({ instanceId: writer.instanceId, reason: why.message }, 'the writer lease is lost: the engine stopped here');
      return why;
    } finally {
      workingCopy.close();
    }
  }

  // Takes the commands replicas send (told by NOTIFY, and once at the start for those sent while
  // nobody led), one batch at a time, and answers each in the commit that carries its state.
  #commandPump(writer: PostgresWriter, engine: Engine, committer: GroupCommitter): { stop(): void } {
    const cipher = this.#settings.engine.cipher;
    let running: Promise<void> | undefined;
    let again = false;
    let stopped = false;
    const pump = async () => {
      while (!stopped && !writer.isLost && !committer.broken) {
        const taken = await writer.takeCommands(commandsPerTake);
        for (const command of taken) {
          await committer.carryOut(async () => {
            try {
              const result = await carryOutCommand(engine, command, (sealed, context) => {
                if (!cipher) throw new CairnError('CAIRN_CONFIG_INVALID', 'No cipher is configured, so secrets cannot be stored.', { path: 'engine.cipher' });
                return cipher.decrypt(sealed, context);
              });
              return { id: command.id, ok: true, result };
            } catch (error) {
              const refusal = error instanceof CairnError ? error : new CairnError('CAIRN_INTERNAL', `The command failed: ${(error as Error).message}`);
              return { id: command.id, ok: false, error: refusal };
            }
          });
        }
        if (taken.length > 0) await committer.commit();
        if (taken.length < commandsPerTake && !again) return;
        again = false;
      }
    };
    const poke = () => {
      if (running) {
        again = true;
        return;
      }
      running = pump()
        .catch((error: unknown) => this.#settings.logger?.error({ error: String(error) }, 'carrying out commands failed'))
        .finally(() => {
          running = undefined;
          if (again && !stopped) poke();
        });
    };
    const unsubscribe = writer.onCommandsPending(poke);
    poke();
    return {
      stop: () => {
        stopped = true;
        unsubscribe();
      },
    };
  }
}

export function createPostgresEngineLeader(settings: PostgresEngineLeaderSettings): PostgresEngineLeader {
  return new PostgresEngineLeader(settings);
}
