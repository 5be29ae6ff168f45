// The run tracer's spans under the OpenTelemetry GenAI conventions, recorded by the SDK's in-memory
// exporter from a scripted event stream. The expected names are the conventions' (v1.41.0,
// docs/gen-ai/gen-ai-agent-spans.md and gen-ai-spans.md) written out here, never read from the
// code under test, so a renamed attribute fails.
import type { CairnEvent, RunSpecV1 } from '@cairn/core';
import type { ModelCall } from '@cairn/engine';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { expect, test } from 'vitest';
import { attemptSpanId } from './attempt-span-id.ts';
import { DerivedIdGenerator } from './derived-id-generator.ts';
import { GEN_AI_SCHEMA_URL, GEN_AI_SEMCONV_VERSION, genAiConventionsOf, type GenAiConventions } from './gen-ai-conventions.ts';
import { RunTracer, runSpanIds, type TracedService } from './run-tracer.ts';

/** An event as a test writes it: the stream numbers, times and places it. */
type EventDraft = CairnEvent extends infer Event ? (Event extends CairnEvent ? Omit<Event, 'id' | 'time' | 'runId'> : never) : never;

/** An engine's event stream as the tracer reads it: what is pushed, followed until aborted. */
function scriptedService(spec: RunSpecV1) {
  const events: CairnEvent[] = [];
  let wake: (() => void) | undefined;
  const service: TracedService = {
    auditSize: async () => 0,
    run: async () => ({ name: spec.name }) as Awaited<ReturnType<TracedService['run']>>,
    spec: async () => spec,
    events: (options) =>
      (async function* () {
        let after = options?.after ?? -1;
        for (;;) {
          for (const event of events.filter((candidate) => candidate.id > after)) {
            after = event.id;
            yield event;
          }
          if (options?.follow === false || options?.signal?.aborted) return;
          await new Promise<void>((resolve) => {
            wake = resolve;
            options?.signal?.addEventListener('abort', () => resolve(), { once: true });
          });
        }
      })(),
  };
  let id = 0;
  let clock = Date.parse('2026-11-28T10:00:00Z');
  const push = (event: EventDraft) => {
    events.push({ ...event, id: id++, time: new Date((clock += 1000)).toISOString(), runId: 'run-1' } as CairnEvent);
    wake?.();
  };
  return { service, push };
}

const spec: RunSpecV1 = {
  version: 1,
  name: 'review',
  items: [
    { id: 'build', runtime: { kind: 'command', argv: ['/bin/true'] } },
    { id: 'reviewer', dependsOn: ['build'], runtime: { kind: 'agent', adapter: 'claude-code', model: 'claude-sonnet-4-5', prompt: 'Review.' } },
  ],
} as RunSpecV1;

const call = (fields: Partial<ModelCall>): ModelCall =>
  ({
    executionId: 'run-1/reviewer/1',
    provider: 'anthropic',
    api: 'anthropic-messages',
    model: 'claude-sonnet-4-5',
    status: 200,
    latencyMs: 40,
    outcome: 'success',
    ...fields,
  }) as ModelCall;

async function traced(conventions: GenAiConventions): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const idGenerator = new DerivedIdGenerator();
  const provider = new TracerProvider({ idGenerator, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = new RunTracer({
    tracer: provider.getTracer('@cairn/server', 'test', { schemaUrl: GEN_AI_SCHEMA_URL }),
    ids: idGenerator.ids,
    conventions,
    providerOf: (adapter) => (adapter === 'claude-code' ? 'anthropic' : undefined),
  });
  const { service, push } = scriptedService(spec);
  tracer.start(service);
  push({ type: 'run.state', state: 'queued' });
  push({ type: 'run.state', state: 'running' });
  push({ type: 'item.state', itemId: 'build', state: 'ready' });
  push({ type: 'attempt.state', itemId: 'build', attempt: 1, state: 'running' });
  push({ type: 'attempt.state', itemId: 'build', attempt: 1, state: 'succeeded' });
  push({ type: 'item.state', itemId: 'build', state: 'succeeded' });
  push({ type: 'item.state', itemId: 'reviewer', state: 'ready' });
  // The gateway records a call before the tracer reads the events that open its attempt's span.
  const live = { runId: 'run-1', itemId: 'reviewer', executionId: 'run-1/reviewer/1' };
  tracer.modelCall(call({ inputTokens: 100, cacheReadTokens: 20, outputTokens: 30, costUsd: 0.5 }), { ...live, attempt: 1 });
  push({ type: 'attempt.state', itemId: 'reviewer', attempt: 1, state: 'running' });
  tracer.modelCall(call({ inputTokens: 10, outputTokens: 5, costUsd: 0.25 }), { ...live, attempt: 1 });
  push({ type: 'attempt.state', itemId: 'reviewer', attempt: 1, state: 'failed' });
  push({ type: 'attempt.state', itemId: 'reviewer', attempt: 2, state: 'running' });
  tracer.modelCall(call({ status: 429, outcome: 'failure', executionId: 'run-1/reviewer/2' }), { ...live, attempt: 2, executionId: 'run-1/reviewer/2' });
  push({ type: 'attempt.state', itemId: 'reviewer', attempt: 2, state: 'succeeded' });
  push({ type: 'item.state', itemId: 'reviewer', state: 'succeeded' });
  push({ type: 'run.state', state: 'succeeded' });
  await tracer.stop();
  // Read before the shutdown, which empties the exporter.
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

const one = (spans: ReadableSpan[], name: string) => {
  const found = spans.filter((span) => span.name === name);
  expect(found, `${name} among ${spans.map((span) => span.name).join(', ')}`).toHaveLength(1);
  return found[0]!;
};
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

test('the pinned version is a released one, and the schema URL names it', () => {
  expect(GEN_AI_SEMCONV_VERSION).toMatch(/^1\.\d+\.\d+$/);
  expect(GEN_AI_SCHEMA_URL).toBe(`https://opentelemetry.io/schemas/${GEN_AI_SEMCONV_VERSION}`);
});

test('OTEL_SEMCONV_STABILITY_OPT_IN opts in with gen_ai_latest_experimental among its comma-separated entries, and only with it', () => {
  expect(genAiConventionsOf(undefined)).toBe('cairn');
  expect(genAiConventionsOf('')).toBe('cairn');
  expect(genAiConventionsOf('http,database/dup')).toBe('cairn');
  expect(genAiConventionsOf('gen_ai_latest_experimental_not')).toBe('cairn');
  expect(genAiConventionsOf('gen_ai_latest_experimental')).toBe('gen-ai-latest');
  expect(genAiConventionsOf('http/dup, gen_ai_latest_experimental ')).toBe('gen-ai-latest');
});

test('opted in: invoke_workflow per run, invoke_agent per agent attempt with its usage, model calls under their attempt', async () => {
  const spans = await traced('gen-ai-latest');
  const ids = runSpanIds('run-1');
  expect(spans.every((span) => span.spanContext().traceId === ids.traceId)).toBe(true);
  expect(spans.every((span) => span.instrumentationScope.schemaUrl === 'https://opentelemetry.io/schemas/1.41.0')).toBe(true);

  // "Invoke workflow span": name `invoke_workflow {gen_ai.workflow.name}`, kind INTERNAL.
  const workflow = one(spans, 'invoke_workflow review');
  expect(workflow.kind).toBe(SpanKind.INTERNAL);
  expect(parentOf(workflow)).toBeUndefined();
  expect(workflow.spanContext().spanId).toBe(ids.spanId);
  expect(workflow.attributes).toMatchObject({ 'gen_ai.operation.name': 'invoke_workflow', 'gen_ai.workflow.name': 'review' });

  // A command item is no agent: its attempt keeps Cairn's name and carries no gen_ai attributes.
  const buildItem = one(spans, 'item build');
  const buildAttempt = one(spans, 'attempt 1');
  expect(parentOf(buildAttempt)).toBe(buildItem.spanContext().spanId);
  expect(Object.keys(buildAttempt.attributes).filter((key) => key.startsWith('gen_ai.'))).toEqual([]);

  // "Invoke agent internal span": name `invoke_agent {gen_ai.agent.name}`, kind INTERNAL, under its item.
  const reviewerItem = one(spans, 'item reviewer');
  expect(parentOf(reviewerItem)).toBe(workflow.spanContext().spanId);
  const agents = spans
    .filter((span) => span.name === 'invoke_agent reviewer')
    .sort((a, b) => Number(a.attributes['cairn.attempt']) - Number(b.attributes['cairn.attempt']));
  expect(agents).toHaveLength(2);
  const [first, second] = agents as [ReadableSpan, ReadableSpan];
  for (const agent of agents) {
    expect(agent.kind).toBe(SpanKind.INTERNAL);
    expect(parentOf(agent)).toBe(reviewerItem.spanContext().spanId);
    expect(agent.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.agent.name': 'reviewer',
      'gen_ai.request.model': 'claude-sonnet-4-5',
    });
  }
  // Its first span's id is the one derived from the attempt, which TRACEPARENT and the gateway name.
  expect(first.spanContext().spanId).toBe(attemptSpanId('run-1', 'reviewer', 1));
  expect(second.spanContext().spanId).toBe(attemptSpanId('run-1', 'reviewer', 2));
  // The roll-up: input tokens count the cached ones (as the conventions count them), cost is Cairn's.
  expect(first.attributes).toMatchObject({
    'gen_ai.usage.input_tokens': 130,
    'gen_ai.usage.output_tokens': 35,
    'cairn.model.cost_usd': 0.75,
    'cairn.model.calls': 2,
  });
  // Errors as "Recording errors" says: error status and an `error.type`.
  expect(first.status.code).toBe(SpanStatusCode.ERROR);
  expect(first.attributes['error.type']).toBe('failed');
  expect(second.status.code).toBe(SpanStatusCode.UNSET);
  expect(second.attributes['error.type']).toBeUndefined();
  // A call that reported no tokens adds none: no zero where nothing was counted.
  expect(second.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
  expect(second.attributes['cairn.model.calls']).toBe(1);

  // Inference spans: `{gen_ai.operation.name} {gen_ai.request.model}`, kind CLIENT, under their attempt,
  // the one recorded before its attempt's span opened included.
  const calls = spans.filter((span) => span.name === 'chat claude-sonnet-4-5');
  expect(calls).toHaveLength(3);
  expect(calls.map((span) => parentOf(span)).sort()).toEqual([first.spanContext().spanId, first.spanContext().spanId, second.spanContext().spanId].sort());
  for (const span of calls) expect(span.kind).toBe(SpanKind.CLIENT);
  const cached = calls.find((span) => span.attributes['gen_ai.usage.cache_read.input_tokens'] !== undefined)!;
  expect(cached.attributes).toMatchObject({ 'gen_ai.usage.input_tokens': 120, 'gen_ai.usage.cache_read.input_tokens': 20, 'gen_ai.usage.output_tokens': 30 });
  expect(cached.attributes['cairn.model.cache_read_tokens']).toBeUndefined();
  const refused = calls.find((span) => span.status.code === SpanStatusCode.ERROR)!;
  expect(refused.attributes['error.type']).toBe('429');
});

test('by default the spans stay as the server emitted them before it followed the agent conventions', async () => {
  const spans = await traced('cairn');
  expect(spans.map((span) => span.name).sort()).toEqual([
    'attempt 1',
    'attempt 1',
    'attempt 2',
    'chat claude-sonnet-4-5',
    'chat claude-sonnet-4-5',
    'chat claude-sonnet-4-5',
    'item build',
    'item reviewer',
    'run review',
  ]);
  expect(
    spans.flatMap((span) => Object.keys(span.attributes)).filter((key) => ['gen_ai.workflow.name', 'gen_ai.agent.name', 'error.type'].includes(key)),
  ).toEqual([]);
  const calls = spans.filter((span) => span.name.startsWith('chat '));
  expect(calls.every((span) => span.kind === SpanKind.INTERNAL)).toBe(true);
  expect(calls.some((span) => span.attributes['cairn.model.cache_read_tokens'] === 20)).toBe(true);
  // The calls are under their attempts in either case.
  const attempts = spans.filter((span) => span.name.startsWith('attempt ') && span.attributes['cairn.item.id'] === 'reviewer');
  expect(new Set(calls.map((span) => parentOf(span)))).toEqual(new Set(attempts.map((span) => span.spanContext().spanId)));
});
