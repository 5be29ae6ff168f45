import pg from 'pg';
import { CairnError, errorCatalogue, isCairnError, type CairnErrorCode } from '@cairn/protocol';
import type { JsonValue } from '@cairn/core';
import type { EngineCommandKind } from '../engine-commands.ts';
import { jsonValueOf } from '../commands/json-value-of.ts';
import {
  connectPostgres,
  describePostgresTarget,
  parsePostgresStateSettings,
  type PostgresStateSettings,
  type ResolvedPostgresStateSettings,
} from './postgres-settings.ts';
import { migratePostgresSchema, quotedSchema } from './postgres-schema.ts';
import { isPostgresUnavailable, postgresUnavailable } from './postgres-unavailable.ts';

// Declared with the commands; also exported here, beside the transport that carries them.

/** A command as the writer takes it. */
export interface PendingCommand {
  readonly id: number;
  readonly kind: EngineCommandKind;
  readonly payload: JsonValue;
  readonly actor: JsonValue | null;
}

/** How a taken command ended, written with the state it made (in the same commit). */
export type CommandResult =
  { readonly id: number; readonly ok: true; readonly result: JsonValue } | { readonly id: number; readonly ok: false; readonly error: CairnError };

/** The channels (LISTEN/NOTIFY) of one schema: distinct per schema, so two deployments in one database do not hear each other. */
export function commandChannels(schema: string): { readonly commands: string; readonly done: string; readonly audit: string } {
  return { commands: `${schema}_commands`, done: `${schema}_command_done`, audit: `${schema}_audit` };
}

/** The CairnError JSON stored for a failed command. */
export function commandErrorJson(error: unknown): JsonValue {
  const cairn = isCairnError(error)
    ? error
    : new CairnError('CAIRN_INTERNAL', `The engine failed to carry out a command: ${(error as Error)?.message ?? String(error)}.`);
  return jsonValueOf(cairn.toJSON(), `The error of a command (${cairn.code})`);
}

/** Rebuilds the CairnError a command failed with, same code, message, path, issues and details. */
export function commandErrorFromJson(json: unknown): CairnError {
  const stored = (json ?? {}) as { code?: string; message?: string; path?: string; issues?: unknown; details?: unknown };
  const code: CairnErrorCode = stored.code !== undefined && stored.code in errorCatalogue ? (stored.code as CairnErrorCode) : 'CAIRN_INTERNAL';
  return new CairnError(code, stored.message ?? 'The engine failed to carry out a command and said nothing more.', {
    ...(stored.path === undefined ? {} : { path: stored.path }),
    ...(Array.isArray(stored.issues) ? { issues: stored.issues as CairnError['issues'] } : {}),
    ...(stored.details !== null && typeof stored.details === 'object' ? { details: stored.details as CairnError['details'] } : {}),
  });
}

export interface SendCommandOptions {
  /** Who asked (JSON), recorded with the command. */
  readonly actor?: JsonValue;
  /** How long to wait for the engine's answer; default the sender's `timeoutMs`. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface PostgresCommandSenderSettings {
  readonly state: PostgresStateSettings;
  /** How long `send` waits for an answer by default (ms). */
  readonly timeoutMs?: number;
  /** How often `send` reads its command's row in case a notification was missed (ms). */
  readonly pollIntervalMs?: number;
}

/**
 * The replica side of commands: `send` inserts a command into `engine_commands` and NOTIFYs the
 * writer in one statement, then waits for its row to be answered: told by NOTIFY on a dedicated
 * LISTEN connection, and reading the row every `pollIntervalMs` in case a notification was lost
 * (a reconnect in between). A command nobody answers in time is withdrawn if the writer has not
 * taken it yet, so a late engine never carries out what its sender was told failed; the error says
 * whether any engine holds the writer lease.
 */
export class PostgresCommandSender {
  readonly #settings: ResolvedPostgresStateSettings;
  readonly #timeoutMs: number;
  readonly #pollIntervalMs: number;
  readonly #schema: string;
  #connection: Promise<CommandConnection> | undefined;
  readonly #waiters = new Map<number, () => void>();
  #closed = false;

  constructor(settings: PostgresCommandSenderSettings) {
    this.#settings = parsePostgresStateSettings(settings.state);
    this.#timeoutMs = settings.timeoutMs ?? 30_000;
    this.#pollIntervalMs = settings.pollIntervalMs ?? 1_000;
    this.#schema = quotedSchema(this.#settings.schema);
  }

  /** Sends one command and resolves with its result, or rejects with the CairnError it failed with. */
  async send(kind: EngineCommandKind, payload: JsonValue, options: SendCommandOptions = {}): Promise<JsonValue> {
    const id = await this.#record(kind, payload, options.actor);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const { client, row } = await this.#readAnswer(id, kind, deadline, options.signal);
        if (row.state === 'done') return row.result as JsonValue;
        if (row.state === 'failed') throw commandErrorFromJson(row.error);
        options.signal?.throwIfAborted();
        const left = deadline - Date.now();
        if (left <= 0) {
          throw await this.#giveUp(client, id, kind, row.state, timeoutMs).catch((error: unknown) =>
            postgresUnavailable(error, `Command ${id} (${kind}) got no answer in time and could not be withdrawn`, 'engine.state', {
              advice: 'It may still be carried out: check that the database answers (`cairn doctor`) and read the state before sending it again.',
              details: { commandId: id, kind },
            }),
          );
        }
        await this.#nextNotice(id, Math.min(left, this.#pollIntervalMs), options.signal);
      }
    } finally {
      this.#waiters.delete(id);
    }
  }

  /** Inserts the command and NOTIFYs the writer in one statement; returns its id. */
  async #record(kind: EngineCommandKind, payload: JsonValue, actor: JsonValue | undefined, again = true): Promise<number> {
    const { client, forget } = await this.#connect();
    try {
      const inserted = await client.query<{ id: string }>(
        `WITH added AS (INSERT INTO ${this.#schema}.engine_commands (kind, payload, actor) VALUES ($1, $2::jsonb, $3::jsonb) RETURNING id)
         SELECT id, pg_notify($4, id::text) FROM added`,
        [kind, JSON.stringify(payload), actor === undefined ? null : JSON.stringify(actor), commandChannels(this.#settings.schema).commands],
      );
      return Number(inserted.rows[0]!.id);
    } catch (error) {
      // The socket may not have closed yet (its 'end' comes later): the next send must not wait on it.
      if (isPostgresUnavailable(error)) forget();
      // pg refuses, without sending it, a statement on a connection it knows is broken or that was
      // ended meanwhile (another send on it failed): such a statement goes on a new connection.
      if (again && /not queryable|Client was closed/.test(String((error as Error).message))) return this.#record(kind, payload, actor, false);
      // An error the database answered the statement with rolled it back. A connection that ended
      // (a socket closing, or the server ending the session: 57P01-57P03, which can come after the
      // commit) leaves the insert's fate unknown, and the caller must be told so.
      const refused = error instanceof pg.DatabaseError && !error.code?.startsWith('57P0');
      const advice = refused
        ? 'It was not recorded. Check that the database answers (`cairn doctor`); the request may be sent again.'
        : 'The connection ended before the answer, so whether it was recorded is not known: check that the database answers (`cairn doctor`) and read the state before sending it again.';
      throw postgresUnavailable(error, `A ${kind} command could not be sent to the engine through ${describePostgresTarget(client)}`, 'engine.state', {
        advice,
        details: { kind, recorded: refused ? 'no' : 'unknown' },
      });
    }
  }

  /**
   * Reads the command's row. A connection lost while waiting is made again (every poll interval,
   * until the deadline): the command is in the table, and the engine may carry it out meanwhile.
   */
  async #readAnswer(
    id: number,
    kind: string,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<{ client: pg.Client; row: { state: string; result: unknown; error: unknown } }> {
    for (;;) {
      let connection: CommandConnection | undefined;
      try {
        connection = await this.#connect();
        return { client: connection.client, row: await this.#read(connection.client, id) };
      } catch (error) {
        const lost = isPostgresUnavailable(error);
        if (lost) connection?.forget();
        // A connection that could not be made is CAIRN_STATE_UNAVAILABLE already (connectPostgres).
        if (!(lost || isCairnError(error, 'CAIRN_STATE_UNAVAILABLE')) || this.#closed) throw error;
        const left = deadline - Date.now();
        if (left <= 0 || signal?.aborted) {
          throw new CairnError(
            'CAIRN_STATE_UNAVAILABLE',
            `Command ${id} (${kind}) was recorded, but its answer could not be read: ${(error as Error).message}. It may still be carried out: read the state before sending it again.`,
            { path: 'engine.state', details: { commandId: id, kind }, cause: error },
          );
        }
        await this.#nextNotice(id, Math.min(left, this.#pollIntervalMs), signal);
      }
    }
  }

  /** Ends both connections. */
  async close(): Promise<void> {
    this.#closed = true;
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection === undefined) return;
    const { client, listener } = await connection.catch(() => ({ client: undefined, listener: undefined }));
    await Promise.all([client?.end().catch(() => {}), listener?.end().catch(() => {})]);
  }

  async #read(client: pg.Client, id: number): Promise<{ state: string; result: unknown; error: unknown }> {
    const { rows } = await client.query<{ state: string; result: unknown; error: unknown }>(
      `SELECT state, result, error FROM ${this.#schema}.engine_commands WHERE id = $1`,
      [id],
    );
    return rows[0]!;
  }

  #nextNotice(id: number, waitMs: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.set(id, done);
    });
  }

  async #giveUp(client: pg.Client, id: number, kind: string, state: string, timeoutMs: number): Promise<CairnError> {
    const withdrawn = await client.query(
      `UPDATE ${this.#schema}.engine_commands SET state = 'failed', done_at = now(), error = $2::jsonb WHERE id = $1 AND state = 'pending'`,
      [id, JSON.stringify({ code: 'CAIRN_STATE_UNAVAILABLE', message: 'withdrawn by its sender: no answer in time' })],
    );
    const holder = await client.query<{ instance_id: string | null; host: string | null; held: boolean }>(
      `SELECT EXISTS (
                SELECT 1 FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = $1::bigint::oid AND objsubid = 1
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              ) AS held,
              (SELECT instance_id FROM ${this.#schema}.engine_leader WHERE lock_key = $1) AS instance_id,
              (SELECT host FROM ${this.#schema}.engine_leader WHERE lock_key = $1) AS host`,
      [this.#settings.lockKey],
    );
    const { held, instance_id: instanceId, host } = holder.rows[0]!;
    const wait = `${Math.round((timeoutMs / 1000) * 10) / 10} s`;
    if (!held) {
      return new CairnError(
        'CAIRN_STATE_UNAVAILABLE',
        `Command ${id} (${kind}) was not carried out: no engine holds the writer lease on schema "${this.#settings.schema}" (advisory lock ${this.#settings.lockKey}), so nothing takes commands. ${withdrawn.rowCount === 1 ? 'It was withdrawn and will not run later.' : 'It was already taken and may still complete.'} Start a replica with the engine enabled, or check why the active one stopped.`,
        { details: { commandId: id, kind, leaseHeld: false } },
      );
    }
    return new CairnError(
      'CAIRN_STATE_UNAVAILABLE',
      `Command ${id} (${kind}) got no answer within ${wait} from the engine holding the writer lease${instanceId === null ? '' : ` (instance ${instanceId} on ${host})`}. ${withdrawn.rowCount === 1 ? 'It was withdrawn and will not run later.' : `It was ${state === 'pending' ? 'answered just now or taken' : 'taken'} and may still complete: read the state before sending it again.`}`,
      { details: { commandId: id, kind, leaseHeld: true } },
    );
  }

  #connect(): Promise<CommandConnection> {
    if (this.#closed) throw new CairnError('CAIRN_STATE_UNAVAILABLE', 'The command sender is closed; make a new one.');
    if (this.#connection !== undefined) return this.#connection;
    const connection = (async () => {
      const client = await connectPostgres(this.#settings, 'commands');
      let listener: pg.Client;
      try {
        await migratePostgresSchema(client, this.#settings.schema);
        listener = await connectPostgres(this.#settings, 'listener');
      } catch (error) {
        await client.end().catch(() => {});
        throw error;
      }
      listener.on('notification', (message) => {
        if (message.channel !== commandChannels(this.#settings.schema).done) return;
        this.#waiters.get(Number(message.payload))?.();
      });
      // A lost connection is made again on the next send; the poll covers what was missed.
      const forget = () => {
        if (this.#connection === connection) this.#connection = undefined;
        void client.end().catch(() => {});
        void listener.end().catch(() => {});
      };
      for (const session of [client, listener]) {
        session.on('error', forget);
        session.on('end', forget);
      }
      await listener.query(`LISTEN "${commandChannels(this.#settings.schema).done}"`);
      return { client, listener, forget };
    })();
    this.#connection = connection;
    connection.catch(() => {
      if (this.#connection === connection) this.#connection = undefined;
    });
    return connection;
  }
}

/** A sender's two sessions, and how to drop both (a statement on them failed for want of the database): the next send makes new ones. */
interface CommandConnection {
  readonly client: pg.Client;
  readonly listener: pg.Client;
  readonly forget: () => void;
}

/** Makes a command sender for a replica. */
export function createPostgresCommandSender(settings: PostgresCommandSenderSettings): PostgresCommandSender {
  return new PostgresCommandSender(settings);
}
