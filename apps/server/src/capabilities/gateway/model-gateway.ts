import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEntry, BudgetSpec, Digest, JsonObject, Logger, StorageProviderV1 } from '@cairn/core';
import type { LiveAttempt, ModelCall } from '@cairn/engine';
import { isCairnError, type CairnErrorCode } from '@cairn/protocol';
import { AttemptCredentials } from './attempt-credentials.ts';
import type { GatewaySettings } from './gateway-settings.ts';
import { priceModelCall } from './model-prices.ts';
import { RunSpend } from './model-spend.ts';
import { ProviderQuotas } from './provider-quotas.ts';
import type { QuotaLedger } from './quota-ledger.ts';
import { createUsageMeter, type MeteredApi } from './usage-meter.ts';
import { withStreamUsage } from './usage-meter-stream-options.ts';
import { estimateRequest, estimateUsage, type RequestEstimate } from './usage-estimate.ts';
import { BudgetReservations, type Reservation } from './budget-reservations.ts';
import { crowdedOut, reached } from './budget-checks.ts';
import { ModelCallBodies } from './model-call-bodies.ts';
import { anthropicErrorType, credentialOf, parseJson, readBody, upstreamHeaders, type Provider } from './provider-requests.ts';

/** What the gateway needs of the engine's service: the attempt a credential names, its budgets, and where calls are recorded. */
export interface GatewayService {
  liveAttempt(executionId: string): LiveAttempt | undefined;
  /** Appends the call's `model.called` entry, once `stored` (its bodies' flush) resolves when given; its attempt's end waits for it. */
  recordModelCall(call: ModelCall, stored?: Promise<unknown>): Promise<AuditEntry>;
  /** A provider's key (a server secret); `purpose` names the provider for the error when it is not set. */
  revealSecret(name: string, purpose: string): Promise<string>;
  /** The run's `model.called` entries so far (a restarted server's spend starts from them). */
  modelCalls(runId: string): AsyncIterable<AuditEntry>;
  /** The budgets of a run and of one of its items (defaults applied), as the run's spec sets them. */
  budgets(runId: string, itemId: string): Promise<{ readonly run?: BudgetSpec; readonly item?: BudgetSpec }>;
  /** The run's budget now: the last one an actor raised it to, else its spec's; read afresh each time. */
  runBudget(runId: string): Promise<BudgetSpec | undefined>;
  /** The run's spend reached its budget: it awaits a raise (`data` says what of which). */
  awaitBudget(runId: string, data: JsonObject): boolean;
}

interface Route {
  readonly provider: Provider;
  readonly api: MeteredApi;
  /** The path after the provider's baseUrl. */
  readonly upstreamPath: string;
}

// Paths under the gateway's root: the base URLs the worker hands runtimes end in /anthropic and /openai/v1.
const routes: Readonly<Record<string, Route>> = {
  '/anthropic/v1/messages': { provider: 'anthropic', api: 'anthropic-messages', upstreamPath: '/v1/messages' },
  '/openai/v1/chat/completions': { provider: 'openai', api: 'openai-chat', upstreamPath: '/chat/completions' },
  '/openai/v1/responses': { provider: 'openai', api: 'openai-responses', upstreamPath: '/responses' },
};

/** A refusal of the gateway's own, in the caller's provider's error shape. */
class Refusal {
  readonly status: number;
  readonly code: CairnErrorCode;
  readonly message: string;

  constructor(status: number, code: Refusal['code'], message: string) {
    this.status = status;
    this.code = code;
    this.message = message;
  }
}

// Response headers not passed back: hop-by-hop, and lengths the gateway's own framing replaces.
const droppedResponseHeaders = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding']);
const secretCacheMs = 60_000;
/** How often a call held for a budget raise looks again (and tells the forwarder it is alive). */
const budgetPollMs = 1_000;
/** The largest body of a refused call that is stored; a larger one is recorded by its digest and size only. */
export const refusedBodyStoredBytes = 64 * 1024;

/**
 * The model gateway (ADR 0033): agents' model calls come here, with their attempt's credential,
 * and go on to the provider with the server's key. Each call is checked (credential, live attempt,
 * model, budgets), waits for room under the providers' quotas, is passed through byte for byte
 * while its usage is metered from the provider's own answer, priced from the price table, and
 * recorded as a `model.called` entry of its run, with its request and response bodies stored by
 * digest. Where storage can defer flushes the bodies are flushed after the answer, and the entry
 * written only once they are, the attempt's end waiting for it: no disk flush on the answer's path,
 * no entry anywhere on disk before its bodies are durable (ADR 0059).
 */
export class ModelGateway {
  readonly #settings: GatewaySettings;
  readonly #service: GatewayService;
  readonly #credentials: AttemptCredentials;
  readonly #quotas: ProviderQuotas;
  readonly #logger: Logger | undefined;
  readonly #observe: ((call: ModelCall, attempt: LiveAttempt) => void) | undefined;
  readonly #spends = new Map<string, Promise<RunSpend>>();
  /** Each run's budget as last read; budgets only rise, so a stale one is read afresh once reached. */
  readonly #runBudgets = new Map<string, BudgetSpec | undefined>();
  readonly #keys = new Map<string, { value: Promise<string>; at: number }>();
  readonly #bodies: ModelCallBodies;
  readonly #reservations = new BudgetReservations();

  constructor(settings: {
    gateway: GatewaySettings;
    service: GatewayService;
    storage: StorageProviderV1;
    credentials: AttemptCredentials;
    /** Where the quotas are counted; default: in this process. */
    quotaLedger?: QuotaLedger;
    logger?: Logger;
    /** Told of each call it recorded, with its attempt (the server's metrics and traces). */
    observe?: (call: ModelCall, attempt: LiveAttempt) => void;
  }) {
    this.#settings = settings.gateway;
    this.#service = settings.service;
    this.#bodies = new ModelCallBodies(settings.storage, (executionId) => this.#service.liveAttempt(executionId) !== undefined, settings.logger);
    this.#credentials = settings.credentials;
    this.#quotas = new ProviderQuotas(settings.gateway.quotas, settings.gateway.maxQuotaWaitMs, settings.quotaLedger);
    this.#logger = settings.logger;
    this.#observe = settings.observe;
  }

  /** Answers one HTTP request; never throws (every failure is an answer). */
  handle(request: IncomingMessage, response: ServerResponse): void {
    this.#handle(request, response).catch((error: unknown) => {
      // A coded error says what to do (on a replica that does not run the engine: 503, and which
      // gateway to reach), with the HTTP API's status for its code; anything else is the gateway's own failure.
      const coded = isCairnError(error);
      if (coded) this.#logger?.warn({ code: error.code, error: error.message }, 'the model gateway refused a call');
      else this.#logger?.error({ error: String(error) }, 'the model gateway failed a call');
      if (response.headersSent) return void response.destroy();
      this.#refuse(
        response,
        (request.url ?? '').startsWith('/openai') ? 'openai' : 'anthropic',
        coded
          ? new Refusal(error.status, error.code, error.message.replace(/\.$/, ''))
          : new Refusal(500, 'CAIRN_MODEL_PROVIDER_FAILED', 'the gateway failed this call; see the server log'),
      );
    });
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = performance.now();
    const path = (request.url ?? '/').split('?')[0]!;
    const route = routes[path];
    if (route === undefined || request.method !== 'POST') {
      const provider: Provider = path.startsWith('/openai') ? 'openai' : 'anthropic';
      request.resume();
      return this.#refuse(
        response,
        provider,
        new Refusal(404, 'CAIRN_NOT_FOUND', `the model gateway answers POST ${Object.keys(routes).join(', ')}, not ${request.method} ${path}`),
      );
    }
    const claims = this.#credentials.verify(credentialOf(request) ?? '');
    const live = claims === undefined ? undefined : this.#service.liveAttempt(claims.executionId);
    if (claims === undefined || live === undefined) {
      request.resume();
      return this.#refuse(
        response,
        route.provider,
        new Refusal(401, 'CAIRN_MODEL_NOT_ALLOWED', 'the credential is not one of a running attempt (it is unknown, expired, or its attempt has ended)'),
      );
    }
    const body = await readBody(request, this.#settings.maxRequestBytes);
    if (body === undefined)
      return this.#refuse(
        response,
        route.provider,
        new Refusal(413, 'CAIRN_PAYLOAD_INVALID', `the request body is over the gateway's ${this.#settings.maxRequestBytes} bytes (gateway.maxRequestBytes)`),
      );
    const parsed = parseJson(body);
    const model = typeof parsed?.['model'] === 'string' ? parsed['model'] : undefined;
    if (parsed === undefined || model === undefined)
      return this.#refuse(response, route.provider, new Refusal(400, 'CAIRN_PAYLOAD_INVALID', 'the request body must be a JSON object naming a "model"'));
    const stream = parsed['stream'] === true;
    const estimate = estimateRequest(route.api, parsed, body.length, this.#settings.defaultMaxOutputTokens);
    const requestDigest = digestOf(body);
    // Stored once the call is let through (every call's entry names it), without a flush of its own
    // where storage defers one (made durable with the answer's); a call refused before that stores
    // its body only when it is small (below).
    let requestStored: Promise<void> | undefined;
    const call = { executionId: live.executionId, provider: route.provider, api: route.api, model, stream, request: requestDigest };
    // A call that ends here: refused by the gateway (`denied`), or sent and not answered (`failure`).
    const deny = async (refusal: Refusal, extra: Partial<ModelCall> = {}, outcome: 'denied' | 'failure' = 'denied') => {
      let reason = refusal.message;
      let request = requestDigest;
      let stored: Promise<unknown> | undefined;
      if (requestStored !== undefined) {
        await requestStored;
        stored = this.#bodies.durable(live.executionId, [[requestDigest, body]]);
      } else if (body.length <= refusedBodyStoredBytes) await this.#bodies.store(live.executionId, requestDigest, body);
      else {
        // Refusing costs the agent nothing, so refused calls must not fill the storage: a large body
        // is kept as a stand-in naming its size and digest (stored, so a bundle's bodies can all be fetched).
        const standIn = Buffer.from(
          JSON.stringify({
            notStored: `a refused call's request body is stored only up to ${refusedBodyStoredBytes} bytes`,
            bytes: body.length,
            digest: requestDigest,
          }),
        );
        request = digestOf(standIn);
        await this.#bodies.store(live.executionId, request, standIn);
        reason += `; its request body (${body.length} bytes, ${requestDigest}) was not stored: the entry's request is a stand-in naming its size and digest`;
      }
      const recorded = this.#record(
        live,
        {
          ...call,
          request,
          ...extra,
          outcome,
          status: refusal.status,
          latencyMs: elapsed(started),
          reason,
          ...(outcome === 'denied' ? { refusalCode: refusal.code } : {}),
        },
        stored,
      );
      this.#refuse(response, route.provider, refusal);
      await recorded;
    };
    if (!claims.models.includes(model))
      return deny(
        new Refusal(
          403,
          'CAIRN_MODEL_NOT_ALLOWED',
          `this attempt may call ${claims.models.map((name) => JSON.stringify(name)).join(', ') || 'no model'}, not ${JSON.stringify(model)}: name the model in the item (runtime.model) or in gateway.models`,
        ),
      );
    const storedBefore = this.#bodies.storedBy(live.executionId);
    if (storedBefore + body.length > this.#settings.maxStoredBytesPerAttempt)
      return deny(
        new Refusal(
          402,
          'CAIRN_BUDGET_EXCEEDED',
          `attempt ${live.executionId} has stored ${storedBefore} bytes of model-call bodies, and this call's ${body.length} would pass its bound of ${this.#settings.maxStoredBytesPerAttempt} bytes (gateway.maxStoredBytesPerAttempt)`,
        ),
      );
    const abandoned = new AbortController();
    response.on('close', () => abandoned.abort());
    const reservation = this.#reservationOf(route.provider, model, estimate);
    const admitted = await this.#admit(live, reservation, response, abandoned.signal);
    if ('refused' in admitted) return deny(new Refusal(402, 'CAIRN_BUDGET_EXCEEDED', admitted.refused));
    const forward = async (): Promise<void> => {
      const provider = this.#settings.providers[route.provider];
      if (provider === undefined)
        return deny(new Refusal(502, 'CAIRN_MODEL_PROVIDER_FAILED', `no ${route.provider} provider is configured (gateway.providers.${route.provider})`));
      const hold = await this.#quotas.acquire(route.provider, model, abandoned.signal, reservation.tokens);
      if ('refused' in hold) return deny(new Refusal(429, 'CAIRN_MODEL_QUOTA_FULL', hold.refused), { quotaWaitMs: hold.waitedMs });
      const waited = hold.waitedMs > 0 ? { quotaWaitMs: hold.waitedMs } : {};
      // Let through: stored while the call goes on. Never an unhandled rejection while it waits: the
      // awaits below report a failure.
      requestStored = this.#bodies.store(live.executionId, requestDigest, body, true);
      requestStored.catch(() => undefined);
      let key: string | undefined;
      try {
        key =
          provider.apiKeySecret === undefined
            ? undefined
            : await this.#secret(provider.apiKeySecret, `The model gateway's ${route.provider} provider (gateway.providers.${route.provider}.apiKeySecret)`);
      } catch (error) {
        hold.release(0);
        return deny(new Refusal(502, 'CAIRN_MODEL_PROVIDER_FAILED', (error as Error).message), waited);
      }
      // A stream's usage comes in a last chunk only when asked for (Chat Completions): the gateway asks.
      const sent = route.api === 'openai-chat' && stream ? Buffer.from(JSON.stringify(withStreamUsage(parsed))) : body;
      let upstream: Response;
      try {
        upstream = await fetch(`${provider.baseUrl.replace(/\/$/, '')}${route.upstreamPath}`, {
          method: 'POST',
          headers: upstreamHeaders(request, route.provider, key),
          body: sent,
          signal: abandoned.signal,
        });
      } catch (error) {
        hold.release(0);
        return deny(
          new Refusal(502, 'CAIRN_MODEL_PROVIDER_FAILED', `the ${route.provider} API did not answer: ${(error as Error).message}`),
          waited,
          'failure',
        );
      }
      const meter = createUsageMeter(route.api, stream && upstream.ok);
      const headers: Record<string, string> = {};
      upstream.headers.forEach((value, name) => {
        if (!droppedResponseHeaders.has(name)) headers[name] = value;
      });
      response.writeHead(upstream.status, headers);
      const chunks: Buffer[] = [];
      let broken: string | undefined;
      try {
        for await (const chunk of upstream.body ?? []) {
          const bytes = Buffer.from(chunk as Uint8Array);
          meter.push(bytes);
          chunks.push(bytes);
          if (!response.write(bytes)) await new Promise((resolve) => response.once('drain', resolve).once('close', resolve));
          if (response.destroyed) throw new Error('the agent closed the connection before the answer ended');
        }
      } catch (error) {
        broken = (error as Error).message;
      }
      const answer = Buffer.concat(chunks);
      const answerDigest = digestOf(answer);
      const measured = meter.finish();
      // An answer the provider gave (2xx) was billed even when its usage report never passed (the
      // agent hung up, the stream broke): it counts what the answer said, else the estimate, marked so.
      const estimated = measured.usage === undefined && upstream.ok ? estimateUsage(measured.partial, estimate) : undefined;
      const usage = measured.usage ?? estimated?.usage;
      const tokens = usage === undefined ? 0 : usage.inputTokens + usage.outputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
      hold.release(tokens);
      const price =
        usage === undefined ? undefined : priceModelCall({ provider: route.provider, model: measured.model ?? model, usage, overrides: this.#settings.prices });
      const reasons = [
        broken,
        upstream.ok ? undefined : `the provider answered ${upstream.status}`,
        estimated === undefined ? undefined : `usage estimated (${measured.problem ?? 'the provider reported none'}): ${estimated.basis}`,
        price !== undefined && price.costUsd === null ? `cost unknown: ${price.reason}` : undefined,
      ].filter((reason) => reason !== undefined);
      await Promise.all([requestStored, this.#bodies.store(live.executionId, answerDigest, answer, true)]);
      // Both readable now; made durable after the answer, the entry written once they are.
      const stored = this.#bodies.durable(live.executionId, [
        [requestDigest, body],
        [answerDigest, answer],
      ]);
      const recorded = this.#record(
        live,
        {
          ...call,
          outcome: upstream.ok && broken === undefined ? 'success' : 'failure',
          status: upstream.status,
          ...(usage === undefined ? {} : usage),
          ...(price?.costUsd == null ? {} : { costUsd: price.costUsd }),
          latencyMs: elapsed(started),
          ...(measured.firstTokenAt === undefined ? {} : { firstTokenMs: Math.max(0, Math.round(measured.firstTokenAt - started)) }),
          ...waited,
          response: answerDigest,
          ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
        },
        stored,
      );
      // An answer cut short is cut short for the agent too, never ended as if it were whole.
      if (broken === undefined) response.end();
      else response.destroy();
      await recorded;
    };
    try {
      await forward();
    } finally {
      // After the call's spend is counted (its entry recorded), or it ended with none.
      admitted.release();
    }
  }

  /** What a call reserves of its budgets: its request's estimate, in tokens and, when the model has a price, dollars. */
  #reservationOf(provider: Provider, model: string, estimate: RequestEstimate): Reservation {
    const usage = { inputTokens: estimate.inputTokens, outputTokens: estimate.outputTokens, cacheReadTokens: 0, cacheWriteTokens: 0 };
    return {
      tokens: estimate.inputTokens + estimate.outputTokens,
      usd: priceModelCall({ provider, model, usage, overrides: this.#settings.prices }).costUsd ?? 0,
    };
  }

  /**
   * Lets a call spend from its item's and its run's budgets: it reserves its estimate of each once
   * the reservation fits beside the spend and what the calls in flight reserved (released when its
   * own spend is counted), or refuses it (why). A budget spent refuses an item's call (402) and holds
   * a run's until a raise (`#awaitRaise`). A reservation that does not fit beside others waits for
   * them to end (told alive meanwhile, 102 Processing), up to `gateway.maxBudgetWaitMs`; one that
   * does not fit in what is left with no other call in flight goes alone. So a budget is passed only
   * by what calls spend beyond their reservations, or by the one call sent alone into what was left.
   */
  async #admit(live: LiveAttempt, mine: Reservation, response: ServerResponse, signal: AbortSignal): Promise<{ release: () => void } | { refused: string }> {
    const itemKey = `item ${live.runId}/${live.itemId}`;
    const runKey = `run ${live.runId}`;
    const started = performance.now();
    for (;;) {
      const [budgets, spend] = await Promise.all([this.#service.budgets(live.runId, live.itemId), this.#runSpend(live.runId)]);
      const item = reached(`item ${live.itemId}`, budgets.item, spend.item(live.itemId));
      if (item !== undefined) return { refused: item };
      if (!this.#runBudgets.has(live.runId)) this.#runBudgets.set(live.runId, budgets.run);
      const run = await this.#runOverBudget(live.runId, spend);
      if (run !== undefined) {
        const refused = await this.#awaitRaise(live, run, response, signal);
        if (refused !== undefined) return { refused };
        continue;
      }
      // Nothing awaits from this check to the reservation: no other call of this process comes between.
      const crowded =
        crowdedOut(`item ${live.itemId}`, budgets.item, spend.item(live.itemId), this.#reservations.held(itemKey), mine) ??
        crowdedOut(`run ${live.runId}`, this.#runBudgets.get(live.runId), spend.run, this.#reservations.held(runKey), mine);
      if (crowded === undefined) return { release: this.#reservations.reserve([itemKey, runKey], mine) };
      const waited = Math.round(performance.now() - started);
      if (signal.aborted) return { refused: `${crowded}; the agent hung up while the call waited for them` };
      if (this.#service.liveAttempt(live.executionId) === undefined) return { refused: `${crowded}; the attempt ended while the call waited for them` };
      if (waited >= this.#settings.maxBudgetWaitMs) return { refused: `${crowded}; the call waited ${waited} ms for them (gateway.maxBudgetWaitMs)` };
      response.writeProcessing();
      await this.#reservations.released(Math.min(budgetPollMs, this.#settings.maxBudgetWaitMs - waited), signal);
    }
  }

  /** Why the run may not spend more (its budget read afresh when the one last read is reached), or undefined. */
  async #runOverBudget(runId: string, spend: RunSpend): Promise<string | undefined> {
    if (reached(`run ${runId}`, this.#runBudgets.get(runId), spend.run) === undefined) return undefined;
    const budget = await this.#service.runBudget(runId);
    this.#runBudgets.set(runId, budget);
    return reached(`run ${runId}`, budget, spend.run);
  }

  /**
   * Holds a call whose run has spent its budget until the budget is raised (undefined: the call
   * goes on), or refuses it (why) once the attempt ends, the agent hangs up, or
   * `gateway.maxBudgetWaitMs` passes. The run awaits the raise meanwhile (`awaiting-budget`),
   * starting no agent items; the held agent is told the call is alive (102 Processing), so its
   * worker does not take the wait for a stall.
   */
  async #awaitRaise(live: LiveAttempt, reason: string, response: ServerResponse, signal: AbortSignal): Promise<string | undefined> {
    const started = performance.now();
    const spend = await this.#runSpend(live.runId);
    this.#awaitBudget(live.runId, spend);
    const raise = `raise it with \`cairn budget ${live.runId} --usd N --reason …\` or cancel the run`;
    for (;;) {
      await sleep(Math.min(budgetPollMs, this.#settings.maxBudgetWaitMs), undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return `${reason}; the agent hung up while the run awaited a raise`;
      if (this.#service.liveAttempt(live.executionId) === undefined) return `${reason}; the attempt ended while the run awaited a raise`;
      const still = await this.#runOverBudget(live.runId, spend);
      if (still === undefined) return undefined;
      const waited = Math.round(performance.now() - started);
      if (waited >= this.#settings.maxBudgetWaitMs) return `${still}; the call awaited a raise for ${waited} ms (gateway.maxBudgetWaitMs): ${raise}`;
      response.writeProcessing();
    }
  }

  /** Tells the engine the run's spend reached its budget (once it moved, again harmless). */
  #awaitBudget(runId: string, spend: RunSpend): void {
    try {
      const budget = this.#runBudgets.get(runId);
      this.#service.awaitBudget(runId, { spent: { ...spend.run }, ...(budget === undefined ? {} : { budget: { ...budget } }) });
    } catch (error) {
      this.#logger?.warn({ runId, error: String(error) }, 'the run could not be held for its budget');
    }
  }

  #runSpend(runId: string): Promise<RunSpend> {
    let held = this.#spends.get(runId);
    if (held === undefined) {
      held = RunSpend.read(this.#service.modelCalls(runId));
      this.#spends.set(runId, held);
      held.catch(() => this.#spends.delete(runId));
    }
    return held;
  }

  /** Records the call (`stored`: its bodies' flush; handed over before the answer ends); resolves once its spend is counted. */
  async #record(live: LiveAttempt, call: ModelCall, stored?: Promise<unknown>): Promise<void> {
    let entry: AuditEntry;
    try {
      entry = await this.#service.recordModelCall(call, stored);
    } catch (error) {
      // The attempt ended while the call ran, or its bodies could not be made durable (the engine's commit
      // breaks): the answer is still passed on, but no run holds it.
      this.#logger?.warn({ executionId: call.executionId, error: String(error) }, 'a model call was not recorded');
      return;
    }
    this.#observe?.(call, live);
    // A run whose spend is not loaded yet gets this entry with the rest when it is. A call that
    // took the run to its budget holds the run at once: it starts no more agent items.
    const spend = await this.#spends.get(live.runId)?.catch(() => undefined);
    if (spend === undefined) return;
    spend.add(entry);
    if (this.#runBudgets.has(live.runId))
      void this.#runOverBudget(live.runId, spend)
        .then((over) => over !== undefined && this.#awaitBudget(live.runId, spend))
        .catch(() => undefined);
  }

  async #secret(name: string, purpose: string): Promise<string> {
    const cached = this.#keys.get(name);
    if (cached !== undefined && performance.now() - cached.at < secretCacheMs) return cached.value;
    const value = this.#service.revealSecret(name, purpose);
    this.#keys.set(name, { value, at: performance.now() });
    value.catch(() => this.#keys.delete(name));
    return value;
  }

  #refuse(response: ServerResponse, provider: Provider, refusal: Refusal): void {
    const message = `cairn: ${refusal.message} (${refusal.code})`;
    const body =
      provider === 'anthropic'
        ? { type: 'error', error: { type: anthropicErrorType(refusal.status), message } }
        : { error: { message, type: refusal.code === 'CAIRN_MODEL_QUOTA_FULL' ? 'rate_limit_exceeded' : 'invalid_request_error', code: refusal.code } };
    response.writeHead(refusal.status, {
      'content-type': 'application/json',
      'x-cairn-error': refusal.code,
      'x-cairn-reason': refusal.message.replace(/[^\x20-\x7e]/g, '?'),
    });
    response.end(JSON.stringify(body));
  }
}

function digestOf(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
