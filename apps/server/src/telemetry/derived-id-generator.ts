import { RandomIdGenerator, type IdGenerator } from '@opentelemetry/sdk-trace';
import type { RunSpanIds } from './run-tracer.ts';

/**
 * The span and trace ids of a tracer provider: the ids the run tracer derived for the next span
 * (a run's first span, an attempt's first span), else random ones. Each derived id is used once,
 * whichever order the SDK asks in; a child span asks for no trace id, so one left pending is
 * dropped when the next derived ids are set.
 */
export class DerivedIdGenerator implements IdGenerator {
  readonly #random = new RandomIdGenerator();
  #traceId: string | undefined;
  #spanId: string | undefined;

  /** Give it to the RunTracer. */
  readonly ids: RunSpanIds = {
    next: (ids) => {
      this.#traceId = ids.traceId;
      this.#spanId = ids.spanId;
    },
  };

  generateTraceId(): string {
    const traceId = this.#traceId ?? this.#random.generateTraceId();
    this.#traceId = undefined;
    return traceId;
  }

  generateSpanId(): string {
    const spanId = this.#spanId ?? this.#random.generateSpanId();
    this.#spanId = undefined;
    return spanId;
  }
}
