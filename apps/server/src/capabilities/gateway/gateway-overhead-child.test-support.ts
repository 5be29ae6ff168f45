// Run by bench/gateway.bench.ts in a Node of its own (the bench imports no server source): the
// same scripted Chat Completions endpoint called directly and through the model gateway, in one
// run, interleaved. The gateway does everything it does for a real attempt (credential check, body
// read, metering, pricing, both bodies stored by digest in a local storage provider and flushed
// after the answer) except the engine's append, which a stand-in records in memory (awaiting the
// bodies' flushes, as the engine's commit would, before the child ends). Prints its figures as one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageProviderV1 } from '@cairn/core';
import { createLocalStorageProvider } from '@cairn/local';
import { AttemptCredentials } from './attempt-credentials.ts';
import { GatewayServer } from './gateway-server.ts';
import { gatewaySettingsSchema } from './gateway-settings.ts';
import { ModelGateway, type GatewayService } from './model-gateway.ts';
import { startScriptedModels } from './scripted-models.test-support.ts';

const model = 'gpt-4o-mini';
const [calls, streams] = process.argv.slice(2).map(Number) as [number, number];

/** Medians in milliseconds, and how many of the concurrent streams failed. */
interface GatewayOverhead {
  readonly directMs: number;
  readonly throughMs: number;
  /** Through a gateway whose storage flushes every put (as S3's puts are durable): the bodies flushed before the answer ends. */
  readonly flushedMs: number;
  readonly firstDirectMs: number;
  readonly firstThroughMs: number;
  readonly failedStreams: number;
}

async function measure(): Promise<GatewayOverhead> {
  const usage = { inputTokens: 100, outputTokens: 20 };
  const answer = { text: 'a scripted answer of a few words', usage };
  const models = await startScriptedModels({ chat: Array.from({ length: 3 * calls + 3 * 50 + streams + 10 }, () => answer) });
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-gateway-'));
  const recordedCalls: unknown[] = [];
  // The bodies' flushes the engine's commit would be held on: each awaited before the child ends.
  const flushes: Promise<unknown>[] = [];
  const service: GatewayService = {
    liveAttempt: (executionId) => ({ runId: 'r', itemId: 'i', attempt: 1, executionId }),
    recordModelCall: (call, stored) => {
      recordedCalls.push(call);
      if (stored !== undefined) flushes.push(stored);
      return Promise.resolve({ seq: recordedCalls.length, action: 'model.called', outcome: call.outcome, data: { ...call } } as never);
    },
    revealSecret: async () => 'sk-bench',
    modelCalls: async function* () {},
    budgets: async () => ({}),
    runBudget: async () => undefined,
    awaitBudget: () => false,
  };
  const settings = gatewaySettingsSchema.parse({ enabled: true, providers: { openai: { baseUrl: models.baseUrls.openai, apiKeySecret: 'KEY' } } });
  const credentials = new AttemptCredentials(Buffer.alloc(32, 7));
  const storage = createLocalStorageProvider({ root: directory });
  const gateway = new ModelGateway({ gateway: settings, service, storage, credentials });
  const server = await GatewayServer.listen(gateway, '127.0.0.1', 0);
  // The same storage with no deferred flushes: each body put is flushed before the answer ends.
  const flushing: StorageProviderV1 = {
    specificationVersion: 'v1',
    provider: storage.provider,
    capabilities: { ifAbsent: true },
    put: (key, body, options) => storage.put(key, body, { ...options, deferFlush: false }),
    get: (key) => storage.get(key),
    head: (key) => storage.head(key),
    list: (options) => storage.list(options),
    delete: (key) => storage.delete(key),
  };
  const flushedServer = await GatewayServer.listen(new ModelGateway({ gateway: settings, service, storage: flushing, credentials }), '127.0.0.1', 0);
  const credential = credentials.mint({ executionId: 'r/i/1', models: [model], expiresAt: Date.now() + 3_600_000 });
  const direct = `${models.baseUrls.openai}/chat/completions`;
  const through = `${server.url}/openai/v1/chat/completions`;
  const flushed = `${flushedServer.url}/openai/v1/chat/completions`;
  let sent = 0;
  const call = async (url: string, stream: boolean): Promise<{ totalMs: number; firstMs: number }> => {
    const started = performance.now();
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      // Each request its own, as an agent's turns are: every call stores a new request body.
      body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: `hello ${++sent}` }] }),
    });
    if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
    const reader = response.body!.getReader();
    let firstMs = -1;
    for (;;) {
      const { done } = await reader.read();
      if (firstMs < 0) firstMs = performance.now() - started;
      if (done) break;
    }
    return { totalMs: performance.now() - started, firstMs };
  };
  try {
    for (let i = 0; i < 50; i++) await Promise.all([call(direct, false), call(through, false), call(flushed, false)]);
    const urls = { direct, through, flushed };
    const plain: Record<keyof typeof urls, number[]> = { direct: [], through: [], flushed: [] };
    const first: Record<keyof typeof urls, number[]> = { direct: [], through: [], flushed: [] };
    const ways = Object.keys(urls) as (keyof typeof urls)[];
    for (let i = 0; i < calls; i++) {
      const stream = i % 2 === 1;
      // Each way first, second and third in turn, streamed and not.
      for (let turn = 0; turn < ways.length; turn++) {
        const way = ways[(Math.floor(i / 2) + turn) % ways.length]!;
        const measured = await call(urls[way], stream);
        if (stream) first[way].push(measured.firstMs);
        else plain[way].push(measured.totalMs);
      }
    }
    const results = await Promise.allSettled(Array.from({ length: streams }, () => call(through, true)));
    const failed = results.filter((result) => result.status === 'rejected').length;
    // Every answered call's bodies were made durable after its answer (a flush that failed fails the bench).
    await Promise.all(flushes);
    const p50 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    return {
      directMs: p50(plain.direct),
      throughMs: p50(plain.through),
      flushedMs: p50(plain.flushed),
      firstDirectMs: p50(first.direct),
      firstThroughMs: p50(first.through),
      failedStreams: failed,
    };
  } finally {
    await server.close();
    await flushedServer.close();
    await models.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

process.stdout.write(`${JSON.stringify(await measure())}\n`);
