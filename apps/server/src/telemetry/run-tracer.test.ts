// Traces of real runs (SQLite, local executor, loopback HTTP API) exported over OTLP/HTTP to a
// real receiver on loopback, decoded as the OTLP JSON encoding.
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Logger } from '@cairn/core';
import { afterEach, expect, test } from 'vitest';
import { initServer } from '../cli/init-server.ts';
import { composeServer } from '../composition/compose-server.ts';
import type { ServerComposition } from '../composition/server-composition.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { buildHttpApi } from '../http/http-server.ts';
import { startScriptedModels } from '../capabilities/gateway/scripted-models.test-support.ts';
import { runSpanIds } from './run-tracer.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  links?: { traceId: string; spanId: string }[];
  status?: { code?: number; message?: string };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A minimal OTLP/HTTP traces receiver: keeps every POST /v1/traces it is sent. */
async function otlpReceiver(status = 200) {
  const requests: {
    path: string;
    headers: IncomingHttpHeaders;
    body: { resourceSpans: { resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: { spans: OtlpSpan[] }[] }[] };
  }[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text = (request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
      requests.push({ path: `${request.method} ${request.url}`, headers: request.headers, body: JSON.parse(text) });
      response.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{}' : '{"code":3,"message":"refused by the test"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const spans = () => requests.flatMap((request) => request.body.resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, requests, spans };
}

/** A server as `cairn init` + `cairn serve` make it, with `extraConfig` appended to its config. */
async function server(extraConfig = '', logger?: Logger) {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-traces-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  // Sandboxes start as their own uids and must pass through to their workspaces.
  chmodSync(directory, 0o711);
  const { operatorToken } = await initServer(directory);
  appendFileSync(join(directory, 'cairn.config.yaml'), extraConfig);
  return { directory, operatorToken, ...(await open(directory, operatorToken, logger)) };
}

async function open(directory: string, operatorToken: string, logger?: Logger) {
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  const composition = await composeServer(loaded, logger ? { logger } : {});
  const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: 'tokens' });
  composition.engine.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    await composition.close();
  };
  cleanups.push(close);
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${operatorToken}`, ...(init.headers as Record<string, string> | undefined) } });
  return { api, composition, close };
}

async function submit(api: (path: string, init?: RequestInit) => Promise<Response>, yaml: string): Promise<string> {
  const response = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml });
  expect(response.status).toBe(201);
  return ((await response.json()) as { runId: string }).runId;
}

// Generous: on a loaded two-core machine a short run can take many times its usual second.
async function eventually<T>(read: () => T | undefined, what: string, timeoutMs = 45_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((candidate) => candidate.key === key)?.value;
  return value && (value['stringValue'] ?? value['boolValue'] ?? (value['intValue'] === undefined ? undefined : Number(value['intValue'])));
};

const ended = (composition: ServerComposition, runId: string) => ['succeeded', 'failed', 'cancelled'].includes(composition.engine.run(runId)?.state ?? '');

const twoItems = `version: 1\nname: traced\nitems:\n  - { id: build, runtime: { kind: command, argv: [/bin/sh, -c, "echo built > out.txt"] } }\n  - { id: check, dependsOn: [build], runtime: { kind: command, argv: [/bin/false] } }\n`;

test(
  'a run is exported as a run span, a child span per item and a child per attempt under its item, with ids, attributes and error status',
  { timeout: 60_000 },
  async () => {
    const receiver = await otlpReceiver();
    const { api, composition } = await server(
      `telemetry:\n  traces:\n    otlpEndpoint: ${receiver.endpoint}\n    serviceName: cairn-test\n    headers: { x-collector-token: s3cret }\n`,
    );
    const runId = await submit(api, twoItems);
    await eventually(() => ended(composition, runId), 'the run to end');
    // Exported in batches at most a second apart, without waiting for the server to stop.
    const spans = await eventually(() => (receiver.spans().length >= 5 ? receiver.spans() : undefined), 'five spans');
    expect(spans).toHaveLength(5);

    expect(receiver.requests[0]!.path).toBe('POST /v1/traces');
    expect(receiver.requests[0]!.headers['x-collector-token']).toBe('s3cret');
    expect(receiver.requests[0]!.headers['content-type']).toMatch(/^application\/json/);
    const resource = receiver.requests[0]!.body.resourceSpans[0]!.resource;
    expect(resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'cairn-test' } });

    const ids = runSpanIds(runId);
    const run = spans.find((span) => span.parentSpanId === undefined || span.parentSpanId === '')!;
    expect(run).toMatchObject({ name: 'run traced', traceId: ids.traceId, spanId: ids.spanId, status: { code: 2 } });
    expect([attribute(run, 'cairn.run.id'), attribute(run, 'cairn.run.name'), attribute(run, 'cairn.run.state')]).toEqual([runId, 'traced', 'failed']);
    expect(spans.every((span) => span.traceId === ids.traceId && attribute(span, 'cairn.run.id') === runId)).toBe(true);

    const item = (itemId: string) => spans.find((span) => span.name === `item ${itemId}`)!;
    const attemptOf = (itemSpan: OtlpSpan) => spans.find((span) => span.parentSpanId === itemSpan.spanId)!;
    for (const [itemId, outcome] of [
      ['build', 'succeeded'],
      ['check', 'failed'],
    ] as const) {
      const itemSpan = item(itemId);
      expect(itemSpan.parentSpanId).toBe(run.spanId);
      expect([attribute(itemSpan, 'cairn.item.id'), attribute(itemSpan, 'cairn.item.state')]).toEqual([itemId, outcome]);
      const attempt = attemptOf(itemSpan);
      expect(attempt.name).toBe('attempt 1');
      expect([
        attribute(attempt, 'cairn.item.id'),
        attribute(attempt, 'cairn.attempt'),
        attribute(attempt, 'cairn.executor'),
        attribute(attempt, 'cairn.outcome'),
      ]).toEqual([itemId, 1, 'local', outcome]);
      expect(attempt.status?.code ?? 0).toBe(outcome === 'failed' ? 2 : 0);
      expect(itemSpan.status?.code ?? 0).toBe(outcome === 'failed' ? 2 : 0);
      // Nested in time as in structure.
      const times = [
        run.startTimeUnixNano,
        itemSpan.startTimeUnixNano,
        attempt.startTimeUnixNano,
        attempt.endTimeUnixNano,
        itemSpan.endTimeUnixNano,
        run.endTimeUnixNano,
      ].map(BigInt);
      expect(times).toEqual([...times].sort((first, second) => (first < second ? -1 : first > second ? 1 : 0)));
    }
    // The metrics still hear the attempts alongside the tracer.
    expect(await (await api('/metrics')).text()).toMatch(/^cairn_attempt_duration_seconds_count\{executor="local",outcome="failed"\} 1$/m);
    // The check item waited for build: its span starts when it became ready, after build ended.
    expect(BigInt(item('check').startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(item('build').endTimeUnixNano));
  },
);

test(
  'a run that spans a restart: the open spans end at the stop, and a resumed run span in the same trace, linked to the first, takes the rest',
  { timeout: 60_000 },
  async () => {
    const receiver = await otlpReceiver();
    const first = await server(`telemetry:\n  traces:\n    otlpEndpoint: ${receiver.endpoint}\n`);
    const runId = await submit(
      first.api,
      `version: 1\nname: long\nitems:\n  - { id: nap, runtime: { kind: command, argv: [/bin/sh, -c, "sleep 1.5"] } }\n  - { id: after, dependsOn: [nap], runtime: { kind: command, argv: [/bin/true] } }\n`,
    );
    await eventually(() => first.composition.engine.audit.runEntries(runId).some((entry) => entry.action === 'attempt.started'), 'nap to start');
    await first.close();
    // Everything up to the stop is recorded, and what was open ends there.
    const interrupted = receiver.spans();
    expect(interrupted.map((span) => span.name).sort()).toEqual(['attempt 1', 'item nap', 'run long']);
    expect(interrupted.every((span) => attribute(span, 'cairn.interrupted') === true && (span.status?.code ?? 0) === 0)).toBe(true);

    const second = await open(first.directory, first.operatorToken);
    await eventually(() => ended(second.composition, runId), 'the run to end after the restart');
    const spans = await eventually(() => {
      const all = receiver.spans();
      return all.some((span) => span.name === 'run long' && attribute(span, 'cairn.run.resumed') === true) ? all : undefined;
    }, 'the resumed run span');
    const ids = runSpanIds(runId);
    const resumed = spans.find((span) => span.name === 'run long' && attribute(span, 'cairn.run.resumed') === true)!;
    expect(resumed.traceId).toBe(ids.traceId);
    expect(resumed.spanId).not.toBe(ids.spanId);
    expect(resumed.links).toEqual([expect.objectContaining({ traceId: ids.traceId, spanId: ids.spanId })]);
    expect(attribute(resumed, 'cairn.run.state')).toBe('succeeded');
    // The attempt that ran through the restart: its rest is in the resumed run, named by its end.
    const nap = spans.find((span) => span.name === 'item nap' && span.parentSpanId === resumed.spanId)!;
    const napAttempt = spans.find((span) => span.parentSpanId === nap.spanId)!;
    expect([attribute(napAttempt, 'cairn.attempt'), attribute(napAttempt, 'cairn.executor'), attribute(napAttempt, 'cairn.outcome')]).toEqual([
      1,
      'local',
      'succeeded',
    ]);
    const after = spans.find((span) => span.name === 'item after')!;
    expect(after.parentSpanId).toBe(resumed.spanId);
    expect(spans.find((span) => span.parentSpanId === after.spanId)).toMatchObject({ name: 'attempt 1', traceId: ids.traceId });
  },
);

test('a collector that refuses the spans is reported in the server log, and the run goes on', { timeout: 60_000 }, async () => {
  const receiver = await otlpReceiver(400);
  const warnings: { fields: Record<string, unknown>; message: string | undefined }[] = [];
  const logger: Logger = { debug: () => {}, info: () => {}, error: () => {}, warn: (fields, message) => warnings.push({ fields, message }) };
  const { api, composition } = await server(`telemetry:\n  traces:\n    otlpEndpoint: ${receiver.endpoint}\n`, logger);
  const runId = await submit(api, twoItems);
  await eventually(() => ended(composition, runId), 'the run to end');
  const warning = await eventually(() => warnings.find((candidate) => candidate.message === 'tracing: spans could not be exported'), 'the warning');
  expect(warning.fields).toMatchObject({ endpoint: receiver.endpoint });
  expect(receiver.requests.length).toBeGreaterThan(0);
  expect(composition.engine.run(runId)?.state).toBe('failed');
});

test('without telemetry.traces nothing is exported, and OpenTelemetry is never loaded', { timeout: 60_000 }, async () => {
  const receiver = await otlpReceiver();
  const { api, composition } = await server();
  const runId = await submit(api, twoItems);
  await eventually(() => ended(composition, runId), 'the run to end');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(receiver.requests).toEqual([]);

  // In a process of its own, so no other test's imports count: compose a server over a config
  // without telemetry, and list every module the process resolved.
  const directory = mkdtempSync(join(tmpdir(), 'cairn-traces-off-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  await initServer(directory);
  const script = `
    import { registerHooks } from 'node:module';
    const resolved = [];
    registerHooks({ resolve(specifier, context, next) { const result = next(specifier, context); resolved.push(result.url); return result; } });
    const { composeServer } = await import(${JSON.stringify(new URL('../composition/compose-server.ts', import.meta.url).href)});
    const { loadServerConfig } = await import(${JSON.stringify(new URL('../config/load-server-config.ts', import.meta.url).href)});
    const composition = await composeServer(loadServerConfig({ directory: ${JSON.stringify(directory)}, env: { CAIRN_SANDBOX: 'none' } }));
    await composition.close();
    // prom-client loads @opentelemetry/api, when it is installed, for its exemplars: that inert
    // API is all that may be there; the SDK, the exporter and the tracer must not be.
    console.log(JSON.stringify({ total: resolved.length, api: resolved.some((url) => url.includes('/@opentelemetry/api/')), telemetry: resolved.filter((url) => (url.includes('opentelemetry') && !url.includes('/@opentelemetry/api/')) || url.includes('/telemetry/')) }));
  `;
  const output = execFileSync(process.execPath, ['--conditions=@cairn/source', '--input-type=module', '-e', script], { encoding: 'utf8' });
  const { total, api: apiLoaded, telemetry } = JSON.parse(output.trim().split('\n').at(-1)!) as { total: number; api: boolean; telemetry: string[] };
  expect(total).toBeGreaterThan(50);
  // The probe sees OpenTelemetry modules when they load (prom-client's import of the API shows it).
  expect(apiLoaded).toBe(true);
  expect(telemetry).toEqual([]);
});

test('telemetry.traces is checked: an endpoint that is no http(s) URL, an empty service name or a bad header name is CAIRN_CONFIG_INVALID naming the option', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-traces-config-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  await initServer(directory);
  appendFileSync(
    join(directory, 'cairn.config.yaml'),
    `telemetry:\n  traces:\n    otlpEndpoint: collector:4318\n    serviceName: ""\n    headers: { "bad header": x }\n  logs: true\n`,
  );
  try {
    loadServerConfig({ directory, env: {} });
    expect.unreachable();
  } catch (error) {
    expect((error as { code: string }).code).toBe('CAIRN_CONFIG_INVALID');
    const issues = (error as { issues: { path: string; message: string }[] }).issues;
    expect(issues.map((issue) => issue.path).sort()).toEqual([
      'config.telemetry.logs',
      'config.telemetry.traces.headers.bad header',
      'config.telemetry.traces.otlpEndpoint',
      'config.telemetry.traces.serviceName',
    ]);
    expect(issues.find((issue) => issue.path === 'config.telemetry.traces.otlpEndpoint')!.message).toMatch(
      /http\(s\) URL of an OTLP\/HTTP traces receiver, e\.g\. http:\/\/collector:4318\/v1\/traces/,
    );
  }
  const off = mkdtempSync(join(tmpdir(), 'cairn-traces-config-'));
  cleanups.push(() => rmSync(off, { recursive: true, force: true }));
  await initServer(off);
  expect(loadServerConfig({ directory: off, env: {} }).config.telemetry).toEqual({});
  appendFileSync(join(off, 'cairn.config.yaml'), `telemetry:\n  traces:\n    otlpEndpoint: https://collector.example:4318/v1/traces\n`);
  expect(loadServerConfig({ directory: off, env: {} }).config.telemetry).toEqual({
    traces: { otlpEndpoint: 'https://collector.example:4318/v1/traces', serviceName: 'cairn', headers: {} },
  });
});

test(
  "a model call through the gateway is a span under its attempt, with the GenAI conventions' attributes and its tokens and cost",
  { timeout: 60_000 },
  async () => {
    const receiver = await otlpReceiver();
    const models = await startScriptedModels({ chat: [{ text: 'Done.', usage: { inputTokens: 120, outputTokens: 30, cacheReadTokens: 40 } }] });
    cleanups.push(() => models.close());
    const { api, composition } = await server(
      [
        `telemetry: { traces: { otlpEndpoint: ${receiver.endpoint} } }`,
        `gateway: { enabled: true, providers: { openai: { baseUrl: ${models.baseUrls.openai}, apiKeySecret: PROVIDER_KEY } } }`,
        `runtimes: { openai-compatible: { baseUrl: http://127.0.0.1:9/v1, maxRetries: 0 } }`,
        '',
      ].join('\n'),
    );
    await composition.engine.setSecret('PROVIDER_KEY', 'sk-traced', { kind: 'user', id: 'admin', via: 'cli' });
    const runId = await submit(
      api,
      `version: 1\nname: agent\nitems:\n  - { id: ask, runtime: { kind: agent, adapter: openai-compatible, model: gpt-4o-mini, prompt: Say done. } }\n`,
    );
    await eventually(() => ended(composition, runId), 'the run to end');
    const spans = await eventually(() => (receiver.spans().some((span) => span.name.startsWith('run ')) ? receiver.spans() : undefined), 'the run span');
    const call = spans.find((span) => span.name === 'chat gpt-4o-mini')!;
    expect(call, spans.map((span) => span.name).join(', ')).toBeDefined();
    expect(call.traceId).toBe(runSpanIds(runId).traceId);
    const attempt = spans.find((span) => span.name === 'attempt 1')!;
    // Under its attempt even when the gateway recorded it before the tracer read the attempt's start.
    expect(call.parentSpanId).toBe(attempt.spanId);
    expect(
      Object.fromEntries(
        [
          'gen_ai.operation.name',
          'gen_ai.provider.name',
          'gen_ai.request.model',
          'gen_ai.usage.input_tokens',
          'gen_ai.usage.output_tokens',
          'cairn.model.cache_read_tokens',
          'http.response.status_code',
        ].map((key) => [key, attribute(call, key)]),
      ),
    ).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      // The conventions' input tokens include the cached ones.
      'gen_ai.usage.input_tokens': 160,
      'gen_ai.usage.output_tokens': 30,
      'cairn.model.cache_read_tokens': 40,
      'http.response.status_code': 200,
    });
    expect(call.attributes.find((candidate) => candidate.key === 'cairn.model.cost_usd')?.value['doubleValue']).toBeGreaterThan(0);
  },
);

test('OTEL_SEMCONV_STABILITY_OPT_IN sets telemetry.traces.stabilityOptIn, and means nothing without traces', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-traces-config-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  await initServer(directory);
  const env = { OTEL_SEMCONV_STABILITY_OPT_IN: 'http,gen_ai_latest_experimental' };
  expect(loadServerConfig({ directory, env }).config.telemetry).toEqual({});
  appendFileSync(join(directory, 'cairn.config.yaml'), `telemetry:\n  traces:\n    otlpEndpoint: http://collector:4318/v1/traces\n    stabilityOptIn: http\n`);
  expect(loadServerConfig({ directory, env: {} }).config.telemetry.traces?.stabilityOptIn).toBe('http');
  expect(loadServerConfig({ directory, env }).config.telemetry.traces?.stabilityOptIn).toBe('http,gen_ai_latest_experimental');
});

test(
  'opted in to the GenAI conventions: invoke_workflow per run, invoke_agent per agent attempt with its usage, the model call under it',
  { timeout: 60_000 },
  async () => {
    const receiver = await otlpReceiver();
    const models = await startScriptedModels({ chat: [{ text: 'Done.', usage: { inputTokens: 120, outputTokens: 30, cacheReadTokens: 40 } }] });
    cleanups.push(() => models.close());
    const { api, composition } = await server(
      [
        `telemetry: { traces: { otlpEndpoint: ${receiver.endpoint}, stabilityOptIn: gen_ai_latest_experimental } }`,
        `gateway: { enabled: true, providers: { openai: { baseUrl: ${models.baseUrls.openai}, apiKeySecret: PROVIDER_KEY } } }`,
        `runtimes: { openai-compatible: { baseUrl: http://127.0.0.1:9/v1, maxRetries: 0 } }`,
        '',
      ].join('\n'),
    );
    await composition.engine.setSecret('PROVIDER_KEY', 'sk-traced', { kind: 'user', id: 'admin', via: 'cli' });
    const runId = await submit(
      api,
      `version: 1\nname: agent\nitems:\n  - { id: ask, runtime: { kind: agent, adapter: openai-compatible, model: gpt-4o-mini, prompt: Say done. } }\n`,
    );
    await eventually(() => ended(composition, runId), 'the run to end');
    const spans = await eventually(
      () => (receiver.spans().some((span) => span.name.startsWith('invoke_workflow ')) ? receiver.spans() : undefined),
      'the workflow span',
    );
    const workflow = spans.find((span) => span.name === 'invoke_workflow agent')!;
    expect([attribute(workflow, 'gen_ai.operation.name'), attribute(workflow, 'gen_ai.workflow.name')]).toEqual(['invoke_workflow', 'agent']);
    const agent = spans.find((span) => span.name === 'invoke_agent ask')!;
    expect(agent, spans.map((span) => span.name).join(', ')).toBeDefined();
    expect(
      [
        'gen_ai.operation.name',
        'gen_ai.provider.name',
        'gen_ai.agent.name',
        'gen_ai.request.model',
        'gen_ai.usage.input_tokens',
        'gen_ai.usage.output_tokens',
      ].map((key) => attribute(agent, key)),
    ).toEqual(['invoke_agent', 'openai', 'ask', 'gpt-4o-mini', 160, 30]);
    expect(agent.attributes.find((candidate) => candidate.key === 'cairn.model.cost_usd')?.value['doubleValue']).toBeGreaterThan(0);
    const call = spans.find((span) => span.name === 'chat gpt-4o-mini')!;
    expect(call.parentSpanId).toBe(agent.spanId);
    // OTLP's SPAN_KIND_CLIENT.
    expect((call as OtlpSpan & { kind?: number }).kind).toBe(3);
    expect(attribute(call, 'gen_ai.usage.cache_read.input_tokens')).toBe(40);
  },
);

test(
  "an attempt's sandbox gets TRACEPARENT naming its attempt's span, so a program that emits spans joins the run's trace; none without traces",
  { timeout: 60_000 },
  async () => {
    const receiver = await otlpReceiver();
    const spec = `version: 1\nname: traceparent\nitems:\n  - { id: print, runtime: { kind: command, argv: [/bin/sh, -c, 'echo "tp=$TRACEPARENT ts=\${TRACESTATE-unset}"'] } }\n`;
    const printed = async (api: Awaited<ReturnType<typeof server>>['api'], runId: string) =>
      (await (await api(`/v1/runs/${runId}/items/print/logs?format=text`)).text()).trim();

    const traced = await server(`telemetry:\n  traces:\n    otlpEndpoint: ${receiver.endpoint}\n`);
    const runId = await submit(traced.api, spec);
    await eventually(() => ended(traced.composition, runId), 'the run to end');
    expect(traced.composition.engine.run(runId)?.state).toBe('succeeded');
    const spans = await eventually(() => (receiver.spans().some((span) => span.name === 'attempt 1') ? receiver.spans() : undefined), 'the attempt span');
    const attempt = spans.find((span) => span.name === 'attempt 1')!;
    // W3C Trace Context version 00: the run's trace, the attempt's span as parent, sampled.
    expect(await printed(traced.api, runId)).toBe(`tp=00-${attempt.traceId}-${attempt.spanId}-01 ts=unset`);
    expect(attempt.traceId).toBe(runSpanIds(runId).traceId);

    const untraced = await server();
    const otherRunId = await submit(untraced.api, spec);
    await eventually(() => ended(untraced.composition, otherRunId), 'the untraced run to end');
    expect(await printed(untraced.api, otherRunId)).toBe('tp= ts=unset');
  },
);
