import type { Logger } from '@cairn/core';
import type { AttemptTraceContext, EngineObserver, LiveAttempt, ModelCall } from '@cairn/engine';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { ServerConfig } from '../config/server-config-schema.ts';
import { VERSION } from '../version.ts';
import { GEN_AI_SCHEMA_URL, genAiConventionsOf } from './gen-ai-conventions.ts';
import type { TracedService } from './run-tracer.ts';

/** A server's tracing: give `observer` to the engine, `start` it over the engine, `stop` flushes. */
export interface ServerTracing {
  readonly observer: EngineObserver;
  /** A model call the gateway recorded, as a span under its attempt's. */
  modelCall(call: ModelCall, attempt: LiveAttempt): void;
  /** Give it to the engine: the trace context each attempt's sandbox gets, so its own spans join the run's trace. */
  readonly attemptTraceContext: AttemptTraceContext;
  start(service: TracedService): void;
  /** Stops following the engine and ends the spans still open: before the engine closes. */
  unfollow(): Promise<void>;
  /** Unfollows if still following, sends what is buffered, and closes the exporter: last. */
  stop(): Promise<void>;
}

/**
 * Builds the OpenTelemetry pipeline `telemetry.traces` describes: spans batched (at most a second
 * apart) and posted as OTLP/HTTP JSON to `otlpEndpoint`. The SDK is imported here, and this module
 * is imported only when traces are configured: a server without them never loads OpenTelemetry.
 * The SDK is the server's own, never registered globally, so embedding code keeps its own tracing.
 */
export async function startTracing(
  traces: NonNullable<ServerConfig['telemetry']['traces']>,
  logger?: Logger,
  /** The provider an agent adapter's models are on, when a gateway is configured. */
  providerOf?: (adapter: string) => string | undefined,
): Promise<ServerTracing> {
  const [
    { BatchSpanProcessor, TracerProvider },
    { OTLPTraceExporter },
    { resourceFromAttributes },
    { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION },
    { RunTracer },
    { DerivedIdGenerator },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
    import('./run-tracer.ts'),
    import('./derived-id-generator.ts'),
  ]);
  const exporter = new OTLPTraceExporter({ url: traces.otlpEndpoint, headers: { ...traces.headers } });
  // The SDK reports failed exports to a global diagnostic logger that is silent by default: say
  // it in the server's log instead, once per failed batch.
  const reporting: SpanExporter = {
    export: (spans, done) =>
      exporter.export(spans, (result) => {
        if (result.code !== 0) logger?.warn({ err: result.error, endpoint: traces.otlpEndpoint, spans: spans.length }, 'tracing: spans could not be exported');
        done(result);
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  };
  const idGenerator = new DerivedIdGenerator();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: traces.serviceName, [ATTR_SERVICE_VERSION]: VERSION }),
    idGenerator,
    spanProcessors: [new BatchSpanProcessor({ exporter: reporting, scheduledDelayMillis: 1000 })],
  });
  const tracer = new RunTracer({
    tracer: provider.getTracer('@cairn/server', VERSION, { schemaUrl: GEN_AI_SCHEMA_URL }),
    ids: idGenerator.ids,
    conventions: genAiConventionsOf(traces.stabilityOptIn),
    ...(providerOf ? { providerOf } : {}),
    ...(logger ? { logger } : {}),
  });
  return {
    observer: tracer.observer,
    modelCall: (call, attempt) => tracer.modelCall(call, attempt),
    attemptTraceContext: (attempt) => tracer.traceContext(attempt),
    start: (service) => tracer.start(service),
    unfollow: () => tracer.stop(),
    stop: async () => {
      await tracer.stop();
      // Shutting down exports what is left; a collector that refuses it was already reported, once
      // per batch, by `reporting`: the server stops all the same.
      await provider.shutdown().catch(() => undefined);
    },
  };
}
