import { createHash } from 'node:crypto';
import type { CairnEvent, Logger, TaskTraceContext } from '@cairn/core';
import type { EngineObserver, EngineService, LiveAttempt, ModelCall } from '@cairn/engine';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Link, type Span, type Tracer } from '@opentelemetry/api';
import { attemptSpanId } from './attempt-span-id.ts';
import { addModelCall, type AttemptUsage } from './attempt-usage.ts';
import type { GenAiConventions } from './gen-ai-conventions.ts';

/** What the tracer reads of the engine: where the log ends, the events, a run's name and spec. */
export type TracedService = Pick<EngineService, 'auditSize' | 'events' | 'run' | 'spec'>;

/**
 * Where the tracer gets the ids of the spans it derives from the run (a run's first span, an
 * attempt's first span), so a run is one trace across restarts and others can name those spans
 * before they are open.
 */
export interface RunSpanIds {
  /** Used for the next span only (a trace id only by a root span), then forgotten. */
  next(ids: { readonly traceId?: string | undefined; readonly spanId: string | undefined }): void;
}

/** The ids of a run's trace and of its first run span, derived from the run id alone. */
export function runSpanIds(runId: string): { readonly traceId: string; readonly spanId: string } {
  const digest = createHash('sha256').update(`cairn.run\0${runId}`).digest('hex');
  return { traceId: digest.slice(0, 32), spanId: digest.slice(32, 48) };
}

interface OpenRun {
  readonly span: Span;
  readonly items: Map<string, OpenItem>;
  /** The run's agent items (from its spec) by item id: their attempts are `invoke_agent` spans. */
  readonly agents: ReadonlyMap<string, AgentOfItem>;
}

interface AgentOfItem {
  readonly adapter: string;
  readonly model: string | undefined;
}

interface OpenItem {
  readonly span: Span;
  readonly attempts: Map<number, Span>;
}

/** What the tracer reads of a run when its span opens. */
interface RunOpening {
  readonly name: string | undefined;
  readonly agents: ReadonlyMap<string, AgentOfItem>;
}

const itemEnds = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);
const runEnds = new Set(['succeeded', 'failed', 'cancelled']);
const attemptFailures = new Set(['failed', 'timed-out', 'lost']);

/**
 * Turns a server's runs into OpenTelemetry spans: one per run (from its submission to its end), a
 * child per item (from the first state it is seen in to its end), and a child per attempt under its
 * item (from its start to its outcome), failures with error status.
 *
 * It follows the engine's event stream rather than adding hooks to the engine: the stream is
 * already there (webhooks and SSE read it), holds only what committed, carries each change's own
 * time (so spans are exact however late they are read), and is read at the tracer's own pace off
 * the engine's path. The one thing events leave out, an attempt's executor, comes from the
 * observer's `attemptStarted`, which the engine calls anyway.
 *
 * A run's trace id is derived from its run id, and so is its first run span's id, and an attempt's
 * first span's id from the attempt (`attemptSpanId`). When the server stops, the spans still open
 * end there with status unset and `cairn.interrupted: true`; after a restart the first event of
 * such a run opens a new run span in the same trace, marked `cairn.run.resumed: true` and linked to
 * the run's first span, and its items continue under it.
 *
 * With `conventions: 'gen-ai-latest'` (see gen-ai-conventions.ts) the run span is the GenAI
 * conventions' `invoke_workflow` and an agent item's attempt span their `invoke_agent`, with the
 * tokens and cost of the attempt's model calls added up on it.
 */
export class RunTracer {
  readonly #tracer: Tracer;
  readonly #ids: RunSpanIds;
  readonly #logger: Logger | undefined;
  readonly #conventions: GenAiConventions;
  readonly #providerOf: (adapter: string) => string | undefined;
  readonly #runs = new Map<string, OpenRun>();
  /** The model calls' usage by attempt (`runId\0itemId\0attempt`), until its span ends: calls come before the events that open it. */
  readonly #usage = new Map<string, AttemptUsage>();
  /** Executor names by run and item (every attempt of an item has its item's executor). */
  readonly #executors = new Map<string, string>();
  #service: TracedService | undefined;
  /** The id of the last event recorded. */
  #cursor = -1;
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;

  /** Give it to the engine (with the metrics' observer): it tells the tracer which executor runs an item's attempts. */
  readonly observer: EngineObserver = {
    attemptStarted: (event) => this.#executors.set(`${event.runId}\0${event.itemId}`, event.executor),
    // An attempt that started before a restart is named when it ends.
    attemptEnded: (event) => this.#executors.set(`${event.runId}\0${event.itemId}`, event.executor),
  };

  constructor(settings: {
    readonly tracer: Tracer;
    readonly ids: RunSpanIds;
    readonly logger?: Logger;
    /** Which names the spans take: Cairn's own (the default) or the GenAI conventions'. */
    readonly conventions?: GenAiConventions;
    /** The provider an agent adapter's models are on (`gen_ai.provider.name`, which `invoke_agent` requires). */
    readonly providerOf?: (adapter: string) => string | undefined;
  }) {
    this.#tracer = settings.tracer;
    this.#ids = settings.ids;
    this.#logger = settings.logger;
    this.#conventions = settings.conventions ?? 'cairn';
    this.#providerOf = settings.providerOf ?? (() => undefined);
  }

  /** Follows the engine's events from the log's end: what happened before this start is not traced again. */
  start(service: TracedService): void {
    if (this.#stop) return;
    this.#service = service;
    const stop = new AbortController();
    this.#stop = stop;
    this.#loop = this.#follow(service, stop.signal);
  }

  /**
   * Stops following, records what happened up to now, and ends the spans still open (status
   * unset, `cairn.interrupted`). Call it before the engine closes.
   */
  async stop(): Promise<void> {
    const stop = this.#stop;
    const service = this.#service;
    if (!stop || !service) return;
    stop.abort();
    await this.#loop;
    this.#stop = undefined;
    for await (const event of service.events({ after: this.#cursor, follow: false })) await this.#recordSafely(event);
    for (const run of this.#runs.values()) {
      for (const item of run.items.values()) {
        for (const attempt of item.attempts.values()) interrupt(attempt);
        interrupt(item.span);
      }
      interrupt(run.span);
    }
    this.#runs.clear();
    this.#executors.clear();
    this.#usage.clear();
  }

  async #follow(service: TracedService, signal: AbortSignal): Promise<void> {
    try {
      this.#cursor = (await service.auditSize()) - 1;
      for await (const event of service.events({ after: this.#cursor, signal })) await this.#recordSafely(event);
    } catch (error) {
      if (!signal.aborted) this.#logger?.error({ err: error }, 'tracing stopped: the event stream failed');
    }
  }

  async #recordSafely(event: CairnEvent): Promise<void> {
    this.#cursor = event.id;
    try {
      // A run's name and agents are read once, when its span opens (the first event of the run this tracer sees).
      const opening = this.#runs.has(event.runId) ? undefined : await this.#opening(event.runId);
      this.#record(event, opening);
    } catch (error) {
      // One odd event must not end tracing for everything after it.
      this.#logger?.warn({ err: error, eventId: event.id }, 'tracing: an event could not be turned into a span');
    }
  }

  async #opening(runId: string): Promise<RunOpening> {
    const [run, spec] = await Promise.all([this.#service?.run(runId), this.#conventions === 'cairn' ? undefined : this.#service?.spec(runId)]);
    const agents = new Map<string, AgentOfItem>();
    for (const item of spec?.items ?? []) if (item.runtime.kind === 'agent') agents.set(item.id, { adapter: item.runtime.adapter, model: item.runtime.model });
    return { name: run?.name, agents };
  }

  #record(event: CairnEvent, opening: RunOpening | undefined): void {
    const time = Date.parse(event.time);
    if (event.type === 'run.state') {
      const run = this.#run(event.runId, time, event.state === 'queued', opening);
      if (event.state === 'running') run.span.addEvent('run started', time);
      if (runEnds.has(event.state)) {
        run.span.setAttribute('cairn.run.state', event.state);
        if (event.state === 'failed') {
          run.span.setStatus({ code: SpanStatusCode.ERROR, message: 'the run failed' });
          if (this.#conventions === 'gen-ai-latest') run.span.setAttribute('error.type', 'failed');
        }
        for (const [itemId, item] of run.items) {
          for (const [number, attempt] of item.attempts) this.#endAttempt(attempt, `${event.runId}\0${itemId}\0${number}`, time);
          item.span.end(time);
          this.#executors.delete(`${event.runId}\0${itemId}`);
        }
        run.span.end(time);
        this.#runs.delete(event.runId);
        for (const key of this.#usage.keys()) if (key.startsWith(`${event.runId}\0`)) this.#usage.delete(key);
      }
      return;
    }
    const item = this.#item(event.runId, event.itemId, time, opening);
    if (event.type === 'item.state') {
      if (!itemEnds.has(event.state)) {
        item.span.addEvent(`item ${event.state}`, time);
        return;
      }
      item.span.setAttribute('cairn.item.state', event.state);
      if (event.state === 'failed') item.span.setStatus({ code: SpanStatusCode.ERROR, message: 'the item failed' });
      for (const [number, attempt] of item.attempts) this.#endAttempt(attempt, `${event.runId}\0${event.itemId}\0${number}`, time);
      item.span.end(time);
      this.#runs.get(event.runId)?.items.delete(event.itemId);
      this.#executors.delete(`${event.runId}\0${event.itemId}`);
      return;
    }
    // An attempt that failed to start ends without having started: it gets a span of no length.
    let attempt = item.attempts.get(event.attempt);
    if (!attempt) {
      const executor = this.#executors.get(`${event.runId}\0${event.itemId}`);
      const agent = this.#conventions === 'gen-ai-latest' ? this.#runs.get(event.runId)?.agents.get(event.itemId) : undefined;
      // Seen starting, this is the attempt's first span and takes the id others already name; one
      // first seen ending started before a restart, where its first span (with that id) ended.
      if (event.state === 'running') this.#ids.next({ spanId: attemptSpanId(event.runId, event.itemId, event.attempt) });
      attempt = this.#tracer.startSpan(
        agent ? `invoke_agent ${event.itemId}` : `attempt ${event.attempt}`,
        {
          kind: SpanKind.INTERNAL,
          startTime: time,
          attributes: {
            ...(agent ? this.#agentAttributes(event.itemId, agent) : {}),
            'cairn.run.id': event.runId,
            'cairn.item.id': event.itemId,
            'cairn.attempt': event.attempt,
            ...(executor === undefined ? {} : { 'cairn.executor': executor }),
          },
        },
        trace.setSpan(ROOT_CONTEXT, item.span),
      );
      item.attempts.set(event.attempt, attempt);
    }
    if (event.state === 'running') return;
    attempt.setAttribute('cairn.outcome', event.state);
    if (attemptFailures.has(event.state)) {
      attempt.setStatus({ code: SpanStatusCode.ERROR, message: `the attempt ${event.state === 'lost' ? 'was lost' : event.state}` });
      if (this.#conventions === 'gen-ai-latest') attempt.setAttribute('error.type', event.state);
    }
    this.#endAttempt(attempt, `${event.runId}\0${event.itemId}\0${event.attempt}`, time);
    item.attempts.delete(event.attempt);
  }

  /**
   * The `invoke_agent` attributes known when the span opens (those a sampler may read). The agent's
   * name is its item id: unique in the run and the same in every run of the spec, as the
   * conventions want a name (of low cardinality, unlike an attempt's execution id).
   */
  #agentAttributes(itemId: string, agent: AgentOfItem): Attributes {
    const provider = this.#providerOf(agent.adapter);
    return {
      'gen_ai.operation.name': 'invoke_agent',
      // Required by the conventions: `_OTHER` when no gateway names the adapter's provider.
      'gen_ai.provider.name': provider ?? '_OTHER',
      'gen_ai.agent.name': itemId,
      ...(agent.model === undefined ? {} : { 'gen_ai.request.model': agent.model }),
      'cairn.agent.adapter': agent.adapter,
    };
  }

  /** Ends an attempt's span, an agent's with what its model calls added up to. */
  #endAttempt(span: Span, key: string, time: number): void {
    const usage = this.#usage.get(key);
    this.#usage.delete(key);
    if (usage && this.#conventions === 'gen-ai-latest') {
      span.setAttributes({
        'cairn.model.calls': usage.calls,
        ...(usage.inputTokens === undefined ? {} : { 'gen_ai.usage.input_tokens': usage.inputTokens }),
        ...(usage.outputTokens === undefined ? {} : { 'gen_ai.usage.output_tokens': usage.outputTokens }),
        ...(usage.costUsd === undefined ? {} : { 'cairn.model.cost_usd': usage.costUsd }),
      });
    }
    span.end(time);
  }

  /**
   * A model call the gateway recorded (ADR 0033), as a span under its attempt's with the GenAI
   * semantic conventions' attributes (`gen_ai.*`: operation, provider, model, token usage) and
   * Cairn's own for what they do not name (cache tokens, cost, quota wait); a refused or failed
   * call has error status. It ended as it was recorded, and began its latency before. Its parent
   * is the attempt's first span, by the id derived from the attempt: the events that open that
   * span lag behind the gateway, so it may not be open yet.
   */
  modelCall(call: ModelCall, attempt: LiveAttempt): void {
    const end = Date.now();
    const latest = this.#conventions === 'gen-ai-latest';
    if (latest) {
      const key = `${attempt.runId}\0${attempt.itemId}\0${attempt.attempt}`;
      this.#usage.set(key, addModelCall(this.#usage.get(key), call));
    }
    const context = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: runSpanIds(attempt.runId).traceId,
      spanId: attemptSpanId(attempt.runId, attempt.itemId, attempt.attempt),
      traceFlags: TraceFlags.SAMPLED,
    });
    const operation = call.api === 'openai-responses' ? 'generate_content' : 'chat';
    // The conventions name the cache tokens since the version pinned; Cairn named them before.
    const cacheNames = latest
      ? { read: 'gen_ai.usage.cache_read.input_tokens', write: 'gen_ai.usage.cache_creation.input_tokens' }
      : { read: 'cairn.model.cache_read_tokens', write: 'cairn.model.cache_write_tokens' };
    const span = this.#tracer.startSpan(
      `${operation} ${call.model}`,
      {
        // A call to the provider, made by the gateway on the agent's behalf.
        ...(latest ? { kind: SpanKind.CLIENT } : {}),
        startTime: end - call.latencyMs,
        attributes: {
          'gen_ai.operation.name': operation,
          'gen_ai.provider.name': call.provider,
          'gen_ai.request.model': call.model,
          ...(call.inputTokens === undefined
            ? {}
            : { 'gen_ai.usage.input_tokens': call.inputTokens + (call.cacheReadTokens ?? 0) + (call.cacheWriteTokens ?? 0) }),
          ...(call.outputTokens === undefined ? {} : { 'gen_ai.usage.output_tokens': call.outputTokens }),
          ...(call.cacheReadTokens === undefined ? {} : { [cacheNames.read]: call.cacheReadTokens }),
          ...(call.cacheWriteTokens === undefined ? {} : { [cacheNames.write]: call.cacheWriteTokens }),
          ...(call.costUsd === undefined ? {} : { 'cairn.model.cost_usd': call.costUsd }),
          ...(call.quotaWaitMs === undefined ? {} : { 'cairn.model.quota_wait_ms': call.quotaWaitMs }),
          'http.response.status_code': call.status,
          'cairn.run.id': attempt.runId,
          'cairn.item.id': attempt.itemId,
          'cairn.attempt': attempt.attempt,
        },
      },
      context,
    );
    if (call.outcome !== 'success') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: call.reason ?? `the call ${call.outcome === 'denied' ? 'was refused by the gateway' : 'failed'}` });
      // The conventions' error class: the gateway's refusal code, else the provider's status.
      if (latest) span.setAttribute('error.type', call.refusalCode ?? (call.status >= 400 ? String(call.status) : '_OTHER'));
    }
    span.end(end);
  }

  /**
   * The W3C trace context an attempt's task carries into its sandbox (`TRACEPARENT`): its first
   * span as the parent, sampled, as the tracer records every span. No `tracestate`: the server's
   * spans carry none.
   */
  traceContext(attempt: { readonly runId: string; readonly itemId: string; readonly attempt: number }): TaskTraceContext {
    const { traceId } = runSpanIds(attempt.runId);
    return { traceparent: `00-${traceId}-${attemptSpanId(attempt.runId, attempt.itemId, attempt.attempt)}-01` };
  }

  // The open span of a run; a run first seen after its submission (the server restarted while it
  // ran) gets a resumed span in its trace, linked to its first.
  #run(runId: string, time: number, submitted: boolean, opening: RunOpening | undefined): OpenRun {
    const open = this.#runs.get(runId);
    if (open) return open;
    const name = opening?.name;
    const ids = runSpanIds(runId);
    const links: Link[] = submitted ? [] : [{ context: { traceId: ids.traceId, spanId: ids.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true } }];
    this.#ids.next({ traceId: ids.traceId, spanId: submitted ? ids.spanId : undefined });
    const workflow = this.#conventions === 'gen-ai-latest';
    const span = this.#tracer.startSpan(workflow ? `invoke_workflow ${name ?? runId}` : `run ${name ?? runId}`, {
      root: true,
      kind: SpanKind.INTERNAL,
      startTime: time,
      links,
      attributes: {
        // The workflow's name is the spec's: the same in every run of it, as the conventions want.
        ...(workflow ? { 'gen_ai.operation.name': 'invoke_workflow', ...(name === undefined ? {} : { 'gen_ai.workflow.name': name }) } : {}),
        'cairn.run.id': runId,
        ...(name === undefined ? {} : { 'cairn.run.name': name }),
        ...(submitted ? {} : { 'cairn.run.resumed': true }),
      },
    });
    const run = { span, items: new Map<string, OpenItem>(), agents: opening?.agents ?? new Map<string, AgentOfItem>() };
    this.#runs.set(runId, run);
    return run;
  }

  #item(runId: string, itemId: string, time: number, opening: RunOpening | undefined): OpenItem {
    const run = this.#run(runId, time, false, opening);
    const open = run.items.get(itemId);
    if (open) return open;
    const span = this.#tracer.startSpan(
      `item ${itemId}`,
      { startTime: time, attributes: { 'cairn.run.id': runId, 'cairn.item.id': itemId } },
      trace.setSpan(ROOT_CONTEXT, run.span),
    );
    const item = { span, attempts: new Map<number, Span>() };
    run.items.set(itemId, item);
    return item;
  }
}

function interrupt(span: Span): void {
  span.setAttribute('cairn.interrupted', true);
  span.end();
}
