import type { AuditActor, CairnEvent, Logger } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { nextRetryDelay, standardRetrySchedule } from './retry-schedule.ts';
import { webhookHeaders } from './sign-webhook.ts';
import type { WebhookEndpoints } from './webhook-endpoints.ts';
import type { DueDelivery, WebhookEvent, WebhookStore } from './webhook-store.ts';
import { RunSpend } from '../gateway/model-spend.ts';

export interface WebhookDispatcherSettings {
  readonly store: WebhookStore;
  readonly endpoints: WebhookEndpoints;
  /** The engine's events, the log's end, and where `webhook.disabled` is written. */
  readonly service: Pick<EngineService, 'events' | 'auditSize' | 'hostAudit' | 'auditEntries'>;
  /** Waits (ms) before each attempt, the first included; default: Standard Webhooks' (about a day and a half). */
  readonly retrySchedule?: readonly number[];
  /** How long a receiver has to answer one attempt (default 10 s). */
  readonly timeoutMs?: number;
  /**
   * How long a stop waits for attempts in flight to be answered (default 2 s): one answered in
   * time is recorded, so a clean stop sends nothing twice; one still unanswered is abandoned.
   */
  readonly stopGraceMs?: number;
  /** Attempts in flight at once, across endpoints (default 8). */
  readonly concurrency?: number;
  /**
   * How often (ms) the follower looks for endpoints while there are none, and while it reads the
   * stream, whether any is left (default 1 s). With none, it reads nothing.
   */
  readonly endpointCheckMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/** Cairn's webhook sender, as the actor of what it does on its own. */
const webhooksActor: AuditActor = { kind: 'system', id: 'webhooks', via: 'engine' };

/** The longest the sender sleeps without looking at the database again (a clock may jump). */
const longestSleep = 60_000;

/** The run states whose webhook deliveries carry the run's spend. */
const spendStates = new Set(['awaiting-budget', 'succeeded', 'failed', 'cancelled']);

/**
 * Turns the engine's event stream into signed webhook deliveries. One loop follows the stream from
 * the persisted cursor and enqueues each event's deliveries in the same transaction that moves the
 * cursor; another sends due deliveries, retries failures on the schedule (with jitter), and stops
 * sending to an endpoint that answers 410 Gone. Delivery is at least once: an attempt cut short by
 * a crash, or unanswered when a stop's grace ends, is recorded nowhere, so the next start (here or
 * at the next leader) sends it again with the same `webhook-id`. It reads the engine's events at
 * its own pace and never holds up the engine.
 */
export class WebhookDispatcher {
  readonly #settings: WebhookDispatcherSettings;
  readonly #schedule: readonly number[];
  readonly #timeoutMs: number;
  readonly #stopGraceMs: number;
  readonly #concurrency: number;
  readonly #endpointCheckMs: number;
  readonly #now: () => number;
  readonly #inFlight = new Map<string, Promise<void>>();
  #stop: AbortController | undefined;
  /** Aborts the attempts in flight: when a stop's grace ends. */
  #abandon: AbortController | undefined;
  #loops: Promise<unknown> | undefined;
  #woken = false;
  #wakeSender: (() => void) | undefined;
  /** An endpoint was added in this process since the follower last looked (see `endpointAdded`). */
  #endpointAdded = false;
  #wakeFollower: (() => void) | undefined;

  constructor(settings: WebhookDispatcherSettings) {
    this.#settings = settings;
    this.#schedule = settings.retrySchedule ?? standardRetrySchedule;
    this.#timeoutMs = settings.timeoutMs ?? 10_000;
    this.#stopGraceMs = settings.stopGraceMs ?? 2_000;
    this.#concurrency = settings.concurrency ?? 8;
    this.#endpointCheckMs = settings.endpointCheckMs ?? 1_000;
    this.#now = settings.now ?? Date.now;
  }

  start(): void {
    if (this.#stop) return;
    const stop = new AbortController();
    const abandon = new AbortController();
    this.#stop = stop;
    this.#abandon = abandon;
    this.#loops = Promise.all([this.#follow(stop.signal), this.#send(stop.signal, abandon.signal)]);
  }

  /**
   * Stops both loops, then gives the attempts in flight `stopGraceMs` to be answered and recorded
   * (an answer the receiver gave but nobody recorded would be sent again, by the next leader too);
   * those still unanswered are abandoned and sent again by the next start.
   */
  async stop(): Promise<void> {
    const stop = this.#stop;
    if (!stop) return;
    stop.abort();
    this.#wake();
    await this.#loops;
    const grace = setTimeout(() => this.#abandon?.abort(), this.#stopGraceMs);
    await Promise.all(this.#inFlight.values());
    clearTimeout(grace);
    this.#stop = undefined;
    this.#abandon = undefined;
  }

  /**
   * Says an endpoint was just added in this process: a follower waiting for one looks again now
   * rather than at its next check (`endpointCheckMs`). One added by another replica is found by
   * that check.
   */
  endpointAdded(): void {
    this.#endpointAdded = true;
    this.#wakeFollower?.();
  }

  /** Waits for an endpoint: `endpointCheckMs`, or less when one is added here or the loop stops. */
  async #awaitEndpoint(signal: AbortSignal): Promise<void> {
    if (this.#endpointAdded) {
      this.#endpointAdded = false;
      return;
    }
    const added = new AbortController();
    this.#wakeFollower = () => added.abort();
    try {
      await pause(this.#endpointCheckMs, AbortSignal.any([signal, added.signal]));
    } finally {
      // The flag an addition set meanwhile is cleared where the loop looks for endpoints again.
      this.#wakeFollower = undefined;
    }
  }

  async #follow(signal: AbortSignal): Promise<void> {
    const { store, service } = this.#settings;
    while (!signal.aborted) {
      try {
        // A new database starts at the log's end: no endpoint existed before it. (Read in the
        // retried block: an engine whose database cannot answer now is asked again.)
        if ((await store.cursor()) === undefined) await store.initializeCursor((await service.auditSize()) - 1);
        // With no endpoint, no event is anyone's: the stream is not read (it is five events an item,
        // each parsed and recorded), the cursor moves to the log's end, and the follower looks
        // again later. The end is read before the endpoints, so one made in between starts after it.
        this.#endpointAdded = false;
        if (await store.skipWhenNoEndpoints((await service.auditSize()) - 1)) {
          await this.#awaitEndpoint(signal);
          continue;
        }
        // Events that arrive together (a page the engine read) are recorded in one transaction,
        // at the end of this turn of the event loop, not one transaction (and commit) each; one
        // batch at a time, in order (`recording`), while the stream is read on. A batch that fails
        // to record ends this pass: the next reads again from the cursor, which did not move past
        // it, so nothing is skipped.
        const batch: WebhookEvent[] = [];
        const failed = new AbortController();
        // The last endpoint gone (removed, or disabled, maybe on another replica): the stream ends,
        // and the pass above finds none.
        const emptied = new AbortController();
        const lookForEndpoints = setInterval(() => {
          store.endpoints().then(
            (endpoints) => endpoints.every((endpoint) => endpoint.disabledAt !== null) && emptied.abort(),
            () => undefined,
          );
        }, this.#endpointCheckMs);
        let failure: unknown;
        let recording = Promise.resolve();
        const record = () => {
          recording = recording.then(async () => {
            if (failure !== undefined || batch.length === 0) return;
            try {
              if ((await store.recordEvents(batch.splice(0), this.#now())) > 0) this.#wake();
            } catch (error) {
              failure ??= error;
              failed.abort();
            }
          });
        };
        try {
          const after = (await store.cursor()) ?? -1;
          for await (const event of service.events({ after, follow: true, signal: AbortSignal.any([signal, failed.signal, emptied.signal]) })) {
            if (batch.push(await this.#withRunSpend(event)) === 1) setImmediate(record);
          }
        } finally {
          clearInterval(lookForEndpoints);
          // What was read before a stop is recorded now, before the store may close.
          record();
          await recording;
        }
        if (failure !== undefined) throw failure;
      } catch (error) {
        this.#settings.logger?.error({ error: (error as Error).message }, 'webhooks: reading the event stream failed; retrying in 1 s');
        await pause(1_000, signal);
      }
    }
  }

  // A run that ended, or awaits a budget raise, is delivered with what its model calls spent (read
  // from its model.called entries, once per such event); a run that made none, without.
  async #withRunSpend(event: CairnEvent): Promise<WebhookEvent> {
    if (event.type !== 'run.state' || !spendStates.has(event.state)) return event;
    const spend = await RunSpend.read(this.#settings.service.auditEntries({ runId: event.runId, action: 'model.called' }));
    return spend.run.calls === 0 ? event : { ...event, spend: spend.run };
  }

  async #send(signal: AbortSignal, abandon: AbortSignal): Promise<void> {
    const { store } = this.#settings;
    while (!signal.aborted) {
      try {
        const free = this.#concurrency - this.#inFlight.size;
        for (const delivery of free > 0 ? await store.due(this.#now(), free, [...this.#inFlight.keys()]) : []) {
          const attempt = this.#attempt(delivery, abandon).finally(() => {
            this.#inFlight.delete(delivery.deliveryId);
            this.#wake();
          });
          this.#inFlight.set(delivery.deliveryId, attempt);
        }
        // With no room, an attempt that ends wakes the loop; so does an enqueue.
        const next = this.#inFlight.size >= this.#concurrency ? undefined : await store.nextDueAt([...this.#inFlight.keys()]);
        await this.#sleep(next === undefined ? longestSleep : Math.min(Math.max(next - this.#now(), 0), longestSleep), signal);
      } catch (error) {
        this.#settings.logger?.error({ error: (error as Error).message }, 'webhooks: reading due deliveries failed; retrying in 1 s');
        await this.#sleep(1_000, signal);
      }
    }
  }

  async #attempt(delivery: DueDelivery, abandon: AbortSignal): Promise<void> {
    const { store, endpoints, logger } = this.#settings;
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const secret = await endpoints.secretOf(delivery.webhookId);
      const headers = webhookHeaders(secret, { id: delivery.deliveryId, timestamp: Math.floor(this.#now() / 1000), body: delivery.body });
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Cairn-Webhooks/0.1', ...headers },
        body: delivery.body,
        // A redirect is an answer to fix, not to follow: the signature was made for this URL's owner.
        redirect: 'manual',
        signal: AbortSignal.any([abandon, timeout]),
      });
      statusCode = response.status;
      await response.body?.cancel();
    } catch (caught) {
      if (abandon.aborted) return;
      error = timeout.aborted ? `no answer within ${this.#timeoutMs} ms` : describeError(caught);
    }
    const now = this.#now();
    if (statusCode !== null && statusCode >= 200 && statusCode < 300) {
      await this.#record(() => store.recordAttempt(delivery.deliveryId, { delivered: true, statusCode, error: null, retryAt: null }, now), delivery);
      return;
    }
    if (statusCode === 410) {
      let disabled = false;
      const recorded = await this.#record(async () => {
        await store.recordAttempt(delivery.deliveryId, { delivered: false, statusCode, error: 'the endpoint answered 410 Gone', retryAt: null }, now);
        disabled = await store.disableEndpoint(delivery.webhookId, 'the endpoint answered 410 Gone', now);
      }, delivery);
      // Two deliveries in flight may both be answered 410: the one that disabled the endpoint says so.
      if (!recorded || !disabled) return;
      // Cairn stopped sending on its own: the log says so, as it says who created the endpoint.
      await this.#settings.service.hostAudit
        .webhookDisabled({ actor: webhooksActor, webhookId: delivery.webhookId, reason: 'the endpoint answered 410 Gone' })
        // The endpoint is disabled either way; an entry the engine could not take (its disk full) is logged, not thrown into the sender.
        .catch((caught: unknown) =>
          logger?.error({ webhookId: delivery.webhookId, error: describeError(caught) }, 'webhooks: auditing a disabled endpoint failed'),
        );
      logger?.warn({ webhookId: delivery.webhookId }, 'webhooks: an endpoint answered 410 Gone; it is disabled');
      return;
    }
    const delay = nextRetryDelay(this.#schedule, delivery.attempts + 1);
    const problem = error ?? `the endpoint answered ${statusCode}`;
    await this.#record(
      () => store.recordAttempt(delivery.deliveryId, { delivered: false, statusCode, error: problem, retryAt: delay === undefined ? null : now + delay }, now),
      delivery,
    );
    logger?.warn(
      { webhookId: delivery.webhookId, deliveryId: delivery.deliveryId, attempt: delivery.attempts + 1, problem },
      delay === undefined ? 'webhooks: delivery failed; no attempts left' : 'webhooks: delivery failed; will retry',
    );
  }

  /**
   * Writes an attempt's outcome; one the store could not take (its database unreachable) is
   * logged, not thrown into the sender: the delivery stays pending and is sent again (at least
   * once). Whether it was written.
   */
  async #record(write: () => Promise<void>, delivery: DueDelivery): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (error) {
      this.#settings.logger?.error(
        { webhookId: delivery.webhookId, deliveryId: delivery.deliveryId, error: describeError(error) },
        'webhooks: recording an attempt failed; the delivery stays pending and is sent again',
      );
      return false;
    }
  }

  #wake(): void {
    this.#woken = true;
    this.#wakeSender?.();
  }

  /** Sleeps `ms`, or less when woken (an enqueue, an attempt ended) or stopped. */
  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#woken || signal.aborted) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wakeSender = undefined;
        this.#woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.#wakeSender = done;
    });
  }
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener on `signal` (it waits once a second while idle). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** An error as a line for the delivery record: fetch hides the useful part (ECONNREFUSED) in `cause`. */
function describeError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message;
  return detail ? `${(error as Error).message}: ${detail}` : String((error as Error).message ?? error);
}
