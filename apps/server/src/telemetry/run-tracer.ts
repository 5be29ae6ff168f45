import { createHash } from 'node:crypto';
import type { CairnEvent, Logger } from '@cairn/core';
import type { EngineObserver, EngineService, LiveAttempt, ModelCall } from '@cairn/engine';
import { ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags, type Link, type Span, type Tracer } from '@opentelemetry/api';

/** What the tracer reads of the engine: where the log ends, the events, and a run's name. */
type TracedService = Pick<EngineService, 'auditSize' | 'events' | 'run'>;

/** Where the tracer gets a root span's ids from: the run's own, so a run is one trace across restarts. */
export interface RunSpanIds {
  /** Used for the next root span only, then forgotten. */
  next(ids: { readonly traceId: string; readonly spanId: string | undefined }): void;
}

/** The ids of a run's trace and of its first run span, derived from the run id alone. */
export function runSpanIds(runId: string): { readonly traceId: string; readonly spanId: string } {
  const digest = createHash('sha256').update(`cairn.run\0${runId}`).digest('hex');
  return { traceId: digest.slice(0, 32), spanId: digest.slice(32, 48) };
}

interface OpenRun {
  readonly span: Span;
  readonly items: Map<string, OpenItem>;
}

interface OpenItem {
  readonly span: Span;
  readonly attempts: Map<number, Span>;
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
 * A run's trace id is derived from its run id, and so is its first run span's id. When the server
 * stops, the spans still open end there with status unset and `cairn.interrupted: true`; after a
 * restart the first event of such a run opens a new run span in the same trace, marked
 * `cairn.run.resumed: true` and linked to the run's first span, and its items continue under it.
 */
export class RunTracer {
  readonly #tracer: Tracer;
  readonly #ids: RunSpanIds;
  readonly #logger: Logger | undefined;
  readonly #runs = new Map<string, OpenRun>();
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

  constructor(settings: { readonly tracer: Tracer; readonly ids: RunSpanIds; readonly logger?: Logger }) {
    this.#tracer = settings.tracer;
    this.#ids = settings.ids;
    this.#logger = settings.logger;
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
      // A run's name is read once, when its span opens (the first event of the run this tracer sees).
      const name = this.#runs.has(event.runId) ? undefined : (await this.#service?.run(event.runId))?.name;
      this.#record(event, name);
    } catch (error) {
      // One odd event must not end tracing for everything after it.
      this.#logger?.warn({ err: error, eventId: event.id }, 'tracing: an event could not be turned into a span');
    }
  }

  #record(event: CairnEvent, name: string | undefined): void {
    const time = Date.parse(event.time);
    if (event.type === 'run.state') {
      const run = this.#run(event.runId, time, event.state === 'queued', name);
      if (event.state === 'running') run.span.addEvent('run started', time);
      if (runEnds.has(event.state)) {
        run.span.setAttribute('cairn.run.state', event.state);
        if (event.state === 'failed') run.span.setStatus({ code: SpanStatusCode.ERROR, message: 'the run failed' });
        for (const [itemId, item] of run.items) {
          for (const attempt of item.attempts.values()) attempt.end(time);
          item.span.end(time);
          this.#executors.delete(`${event.runId}\0${itemId}`);
        }
        run.span.end(time);
        this.#runs.delete(event.runId);
      }
      return;
    }
    const item = this.#item(event.runId, event.itemId, time, name);
    if (event.type === 'item.state') {
      if (!itemEnds.has(event.state)) {
        item.span.addEvent(`item ${event.state}`, time);
        return;
      }
      item.span.setAttribute('cairn.item.state', event.state);
      if (event.state === 'failed') item.span.setStatus({ code: SpanStatusCode.ERROR, message: 'the item failed' });
      for (const attempt of item.attempts.values()) attempt.end(time);
      item.span.end(time);
      this.#runs.get(event.runId)?.items.delete(event.itemId);
      this.#executors.delete(`${event.runId}\0${event.itemId}`);
      return;
    }
    // An attempt that failed to start ends without having started: it gets a span of no length.
    let attempt = item.attempts.get(event.attempt);
    if (!attempt) {
      const executor = this.#executors.get(`${event.runId}\0${event.itemId}`);
      attempt = this.#tracer.startSpan(
        `attempt ${event.attempt}`,
        {
          startTime: time,
          attributes: {
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
    if (attemptFailures.has(event.state))
      attempt.setStatus({ code: SpanStatusCode.ERROR, message: `the attempt ${event.state === 'lost' ? 'was lost' : event.state}` });
    attempt.end(time);
    item.attempts.delete(event.attempt);
  }

  /**
   * A model call the gateway recorded (ADR 0033), as a span under its attempt's with the GenAI
   * semantic conventions' attributes (`gen_ai.*`: operation, provider, model, token usage) and
   * Cairn's own for what they do not name (cache tokens, cost, quota wait); a refused or failed
   * call has error status. It ended as it was recorded, and began its latency before. An attempt
   * whose span is not open (the events lag behind the gateway) gets the call under its run's
   * trace instead, parented to the run's first span.
   */
  modelCall(call: ModelCall, attempt: LiveAttempt): void {
    const end = Date.now();
    const parent = this.#runs.get(attempt.runId)?.items.get(attempt.itemId)?.attempts.get(attempt.attempt);
    const ids = runSpanIds(attempt.runId);
    const context = parent
      ? trace.setSpan(ROOT_CONTEXT, parent)
      : trace.setSpanContext(ROOT_CONTEXT, { traceId: ids.traceId, spanId: ids.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const operation = call.api === 'openai-responses' ? 'generate_content' : 'chat';
    const span = this.#tracer.startSpan(
      `${operation} ${call.model}`,
      {
        startTime: end - call.latencyMs,
        attributes: {
          'gen_ai.operation.name': operation,
          'gen_ai.provider.name': call.provider,
          'gen_ai.request.model': call.model,
          ...(call.inputTokens === undefined
            ? {}
            : { 'gen_ai.usage.input_tokens': call.inputTokens + (call.cacheReadTokens ?? 0) + (call.cacheWriteTokens ?? 0) }),
          ...(call.outputTokens === undefined ? {} : { 'gen_ai.usage.output_tokens': call.outputTokens }),
          ...(call.cacheReadTokens === undefined ? {} : { 'cairn.model.cache_read_tokens': call.cacheReadTokens }),
          ...(call.cacheWriteTokens === undefined ? {} : { 'cairn.model.cache_write_tokens': call.cacheWriteTokens }),
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
    if (call.outcome !== 'success')
      span.setStatus({ code: SpanStatusCode.ERROR, message: call.reason ?? `the call ${call.outcome === 'denied' ? 'was refused by the gateway' : 'failed'}` });
    span.end(end);
  }

  // The open span of a run; a run first seen after its submission (the server restarted while it
  // ran) gets a resumed span in its trace, linked to its first.
  #run(runId: string, time: number, submitted: boolean, name: string | undefined): OpenRun {
    const open = this.#runs.get(runId);
    if (open) return open;
    const ids = runSpanIds(runId);
    const links: Link[] = submitted ? [] : [{ context: { traceId: ids.traceId, spanId: ids.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true } }];
    this.#ids.next({ traceId: ids.traceId, spanId: submitted ? ids.spanId : undefined });
    const span = this.#tracer.startSpan(`run ${name ?? runId}`, {
      root: true,
      startTime: time,
      links,
      attributes: { 'cairn.run.id': runId, ...(name === undefined ? {} : { 'cairn.run.name': name }), ...(submitted ? {} : { 'cairn.run.resumed': true }) },
    });
    const run = { span, items: new Map<string, OpenItem>() };
    this.#runs.set(runId, run);
    return run;
  }

  #item(runId: string, itemId: string, time: number, runName: string | undefined): OpenItem {
    const run = this.#run(runId, time, false, runName);
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
