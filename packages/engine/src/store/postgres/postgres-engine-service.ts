import type { AuditEntry, CairnEvent, CipherEnvelope, CipherV1, EvidenceBundleV1, RunSpecV1 } from '@cairn/core';
import { CairnError, isCairnError, parsePayload } from '@cairn/protocol';
import type pg from 'pg';
import type { AuditQuery } from '../../records/audit-query.ts';
import type { ItemAttemptRecord } from '../../records/attempt-records.ts';
import type { EngineHealth } from '../../engine-health.ts';
import type { EngineMetrics } from '../../engine-metrics.ts';
import type { EngineEventsOptions, EngineService } from '../../engine-service.ts';
import { eventStream } from '../../events/event-stream.ts';
import type { HostAuditWriter } from '../../host-audit/host-audit-writer.ts';
import { hostAuditWriterOver } from '../../host-audit/host-audit-writer-over.ts';
import type { ModelCallAccess } from '../../model-call-access.ts';
import type { Engine } from '../../engine.ts';
import type { ScheduleRecord } from '../../schedules/schedule-book.ts';
import type { SecretRecord } from '../../secrets/secret-store.ts';
import { revealServerSecret } from '../../secrets/reveal-server-secret.ts';
import type { RunListOptions, RunPage } from '../../records/run-page.ts';
import type { ItemRecord, RunRecord } from '../../records/run-records.ts';
import type { GraphItemRecord, GraphItemSelection } from '../engine-reads.ts';
import { jsonValueOf } from '../commands/json-value-of.ts';
import { engineCommandMethods } from '../engine-command-methods.ts';
import {
  engineCommands,
  serviceCommands,
  type EngineCommandActors,
  type EngineCommandKind,
  type EngineCommandMethods,
  type EngineCommandPayloads,
  type EngineCommandResults,
  type ServiceCommandArguments,
  type ServiceCommandKind,
} from '../engine-commands.ts';
import { commandChannels, createPostgresCommandSender, type PostgresCommandSender } from './postgres-commands.ts';
import { openPostgresEngineReads, type PostgresEngineReads } from './postgres-engine-reads.ts';
import type { PostgresEngineLeader } from '../postgres-engine-leader.ts';
import { connectPostgres, parsePostgresStateSettings, type PostgresStateSettings, type ResolvedPostgresStateSettings } from './postgres-settings.ts';
import type { PostgresStateStore } from './postgres-state-store.ts';
import type { ItemApprovalRecord } from '../../records/approval-records.ts';

/** How often a caught-up event stream reads again in case a notification was missed (ms). */
const eventPollMs = 1_000;

export interface PostgresEngineServiceSettings {
  readonly state: PostgresStateSettings;
  readonly store: PostgresStateStore;
  /** This replica's bid for the lease: its engine answers health and bundles while it leads. */
  readonly leader: PostgresEngineLeader;
  /**
   * The deployment's cipher: seals a secret's value for its trip to the leader (which opens it), and
   * opens server secrets from their rows, so that every replica can reveal them.
   */
  readonly cipher?: CipherV1;
  /** How long a command waits for the leader's answer (ms); 30 s by default. */
  readonly commandTimeoutMs?: number;
}

/**
 * The engine service of a replica in PostgreSQL mode (ADR 0023), whether or not it runs the engine:
 * reads and event streams come from the database (so nothing uncommitted is ever seen), commands go
 * through `engine_commands` to whichever replica holds the writer lease, answered once the state
 * they made is committed. Event streams wait on the commit notification, with a slow poll in case
 * one was missed.
 */
export class PostgresEngineService implements EngineService {
  readonly hostAudit: HostAuditWriter;
  readonly modelCalls: ModelCallAccess;
  readonly #settings: ResolvedPostgresStateSettings;
  readonly #store: PostgresStateStore;
  readonly #leader: PostgresEngineLeader;
  readonly #cipher: CipherV1 | undefined;
  readonly #reads: PostgresEngineReads;
  readonly #closeReads: () => Promise<void>;
  readonly #sender: PostgresCommandSender;
  readonly #appendWaiters = new Set<() => void>();
  #listener: Promise<pg.Client> | undefined;
  #closed = false;

  constructor(settings: PostgresEngineServiceSettings) {
    this.#settings = parsePostgresStateSettings(settings.state);
    this.#store = settings.store;
    this.#leader = settings.leader;
    this.#cipher = settings.cipher;
    const { reads, close } = openPostgresEngineReads(settings.state);
    this.#reads = reads;
    this.#closeReads = close;
    Object.assign(
      this,
      engineCommandMethods((kind, args) => this.#dispatch(kind, args)),
    );
    this.#sender = createPostgresCommandSender({ state: settings.state, ...(settings.commandTimeoutMs ? { timeoutMs: settings.commandTimeoutMs } : {}) });
    this.hostAudit = hostAuditWriterOver(async (record) => {
      await this.#send('host-audit', { record }, record.actor);
    });
    // The gateway records calls in the order they end, before their agents hear the end: only the
    // engine itself can, so only the replica holding the lease serves the gateway.
    const leading = (): Engine => {
      const engine = this.#leader.engine;
      if (engine) return engine;
      throw new CairnError(
        'CAIRN_STATE_UNAVAILABLE',
        'This replica does not run the engine, so its model gateway cannot record calls: point agents at the gateway of the replica that holds the writer lease (gateway.publicUrl).',
      );
    };
    this.modelCalls = {
      liveAttempt: (executionId) => leading().liveAttempt(executionId),
      recordModelCall: (call, stored) => leading().recordModelCall(call, stored),
      revealSecret: (name, purpose) => this.#revealSecret(name, purpose),
      awaitBudget: (runId, data) => leading().awaitBudget(runId, data),
    };
  }

  run(runId: string): Promise<RunRecord | undefined> {
    return this.#reads.run(runId);
  }

  runs(options?: RunListOptions): Promise<RunPage> {
    return this.#reads.runs(options);
  }

  items(runId: string): Promise<ItemRecord[]> {
    return this.#reads.items(runId);
  }

  approvals(runId: string): Promise<ItemApprovalRecord[]> {
    return this.#reads.approvals(runId);
  }

  graphItems(runId: string, selection: GraphItemSelection): Promise<GraphItemRecord[]> {
    return this.#reads.graphItems(runId, selection);
  }

  spec(runId: string): Promise<RunSpecV1 | undefined> {
    return this.#reads.spec(runId);
  }

  artifacts(runId: string, itemId: string): Promise<Readonly<Record<string, string>> | undefined> {
    return this.#reads.artifacts(runId, itemId);
  }

  attempts(runId: string, itemId: string): Promise<ItemAttemptRecord[]> {
    return this.#reads.attempts(runId, itemId);
  }

  schedules(): Promise<ScheduleRecord[]> {
    return this.#reads.schedules();
  }

  secrets(): Promise<SecretRecord[]> {
    return this.#reads.secrets();
  }

  /**
   * Ready while some replica runs the engine: this one (then as its engine says: a full disk makes
   * it not ready), or another that holds the lease (commands reach it). Not ready while nobody does.
   */
  async health(): Promise<EngineHealth> {
    const engine = this.#leader.engine;
    if (engine) return engine.health();
    const refused = this.#leader.refused;
    if (refused) return { ready: false, reason: `signer refused: ${refused.message}`, since: new Date().toISOString() };
    const client = await this.#listenerClient();
    const leader = await this.#store.leader(client);
    return leader.held
      ? { ready: true, since: new Date().toISOString() }
      : {
          ready: false,
          reason: 'no replica holds the writer lease: no engine runs (commands wait for one to take it)',
          since: new Date().toISOString(),
        };
  }

  async metrics(): Promise<EngineMetrics> {
    const [counts, auditEntries, lag] = await Promise.all([this.#reads.counts(), this.#reads.auditSize(), this.#reads.anchoringLag()]);
    return { ...counts, auditEntries, ...lag };
  }

  /** Made by the engine, which holds the log in memory: in this process while it leads, through a command otherwise. */
  async exportBundle(runId: string): Promise<EvidenceBundleV1> {
    const engine = this.#leader.engine;
    if (engine) return engine.exportBundle(runId);
    return this.#send('export-bundle', { runId }, null);
  }

  auditSize(): Promise<number> {
    return this.#reads.auditSize();
  }

  auditEntries(query?: AuditQuery): AsyncIterable<AuditEntry> {
    return this.#reads.auditQuery(query);
  }

  events(options: EngineEventsOptions = {}): AsyncGenerator<CairnEvent> {
    return eventStream(
      {
        reads: this.#reads,
        nextAppend: (signal) => this.#nextAppend(signal),
        listening: () => this.#listenerClient(),
        closed: () => this.#closed,
      },
      options,
    );
  }

  /**
   * Any replica, leading or not, reveals a server secret (a trigger's signing secret, a forge's
   * token, a provider's key): it reads the sealed row the leader committed and opens it with the
   * deployment's cipher, as the engine would. Like the engine's, it is not audited (values never
   * are; items' secrets are recorded by name and version where they are used).
   */
  async #revealSecret(name: string, purpose: string | undefined): Promise<string> {
    if (!this.#cipher)
      throw new CairnError('CAIRN_CONFIG_INVALID', 'No cipher is configured, so server secrets cannot be opened: configure `cipher`.', {
        path: 'config.cipher',
      });
    return revealServerSecret(this.#cipher, name, await this.#reads.sealedSecret(name), purpose);
  }

  /** Ends the readers, the command sender and the event listener. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of [...this.#appendWaiters]) waiter();
    await Promise.all([this.#closeReads(), this.#sender.close(), this.#listener?.then((client) => client.end()).catch(() => {})]);
  }

  // Every command method goes this way: its arguments made the command's request (the table's
  // `request`) and sent. A request whose fate is unknown is sent once more where the command says
  // the engine answers it the same twice (a keyed submission answers with the run the first made).
  async #dispatch<Kind extends ServiceCommandKind>(kind: Kind, args: ServiceCommandArguments[Kind]): Promise<EngineCommandResults[Kind]> {
    const command = serviceCommands[kind];
    const { payload, actor } = await command.request((value, context) => this.#seal(value, context), ...args);
    try {
      return await this.#send(kind, payload, actor);
    } catch (error) {
      if (!isCairnError(error, 'CAIRN_STATE_UNAVAILABLE') || error.details['recorded'] !== 'unknown' || !command.resendWhenUnknown?.(payload)) throw error;
      return this.#send(kind, payload, actor);
    }
  }

  // A value sealed here with the deployment's cipher never reaches the database in clear.
  async #seal(value: Uint8Array, context: Readonly<Record<string, string>>): Promise<CipherEnvelope> {
    if (!this.#cipher)
      throw new CairnError('CAIRN_CONFIG_INVALID', 'No cipher is configured, so secrets cannot be stored: configure `cipher`.', { path: 'config.cipher' });
    return this.#cipher.encrypt(value, context);
  }

  // Every command is sent this way: its payload and actor proven JSON, its answer checked against the
  // result the command declares before it is handed back typed.
  async #send<Kind extends EngineCommandKind>(
    kind: Kind,
    payload: EngineCommandPayloads[Kind],
    actor: EngineCommandActors[Kind],
  ): Promise<EngineCommandResults[Kind]> {
    const what = `The ${kind} command's`;
    const answer = await this.#sender.send(kind, jsonValueOf(payload, `${what} payload`), actor === null ? {} : { actor: jsonValueOf(actor, `${what} actor`) });
    return parsePayload(engineCommands[kind].result, answer, `The engine's answer to the ${kind} command`);
  }

  // One LISTEN connection per service for commit notifications; it is reopened when it dies.
  #listenerClient(): Promise<pg.Client> {
    this.#listener ??= (async () => {
      const client = await connectPostgres(this.#settings, 'listener');
      client.on('notification', (message) => {
        if (message.channel === commandChannels(this.#settings.schema).audit) this.#wakeAppendWaiters();
      });
      client.on('end', () => {
        this.#listener = undefined;
        this.#wakeAppendWaiters();
      });
      await client.query(`LISTEN "${commandChannels(this.#settings.schema).audit}"`);
      return client;
    })().catch((error: unknown) => {
      this.#listener = undefined;
      throw error;
    });
    return this.#listener;
  }

  // Resolves at the next commit notification, after the poll interval, or when `signal` aborts.
  #nextAppend(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#appendWaiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, eventPollMs);
      this.#appendWaiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  #wakeAppendWaiters(): void {
    for (const waiter of [...this.#appendWaiters]) waiter();
  }
}

export function createPostgresEngineService(settings: PostgresEngineServiceSettings): PostgresEngineService {
  return new PostgresEngineService(settings);
}

// The command methods: the table's, assigned in the constructor (`engineCommandMethods`).
export interface PostgresEngineService extends EngineCommandMethods {}
