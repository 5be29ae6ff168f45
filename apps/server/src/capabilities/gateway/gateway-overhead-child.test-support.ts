// Run by bench/gateway.bench.ts in a Node of its own (the bench imports no server source): the
// same scripted Chat Completions endpoint called directly and through the model gateway, in one
// run, interleaved. The gateway does everything it does for a real attempt (credential check, body
// read, metering, pricing, both bodies stored by digest in a local storage provider and flushed
// after the answer) except the engine's append, which a stand-in records in memory (awaiting the
// bodies' flushes, as the engine's commit would, before the child ends). Prints its figures as one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  readonly firstDirectMs: number;
  readonly firstThroughMs: number;
  readonly failedStreams: number;
}

async function measure(): Promise<GatewayOverhead> {
  const usage = { inputTokens: 100, outputTokens: 20 };
  const answer = { text: 'a scripted answer of a few words', usage };
  const models = await startScriptedModels({ chat: Array.from({ length: 2 * calls + 2 * 50 + streams + 10 }, () => answer) });
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-gateway-'));
  const recordedCalls: unknown[] = [];
  // The bodies' flushes the engine's commit would be held on: each awaited before the child ends.
  const flushes: Promise<unknown>[] = [];
  const service: GatewayService = {
    liveAttempt: (executionId) => ({ runId: 'r', itemId: 'i', attempt: 1, executionId }),
    recordModelCall: (call, stored) => {
      recordedCalls.push(call);
      if (stored !== undefined) flushes.push(stored);
      return { seq: recordedCalls.length, action: 'model.called', outcome: call.outcome, data: { ...call } } as never;
    },
    revealSecret: async () => 'sk-bench',
    modelCalls: async function* () {},
    budgets: async () => ({}),
    runBudget: async () => undefined,
    awaitBudget: () => false,
  };
  const settings = gatewaySettingsSchema.parse({ enabled: true, providers: { openai: { baseUrl: models.baseUrls.openai, apiKeySecret: 'KEY' } } });
  const credentials = new AttemptCredentials(Buffer.alloc(32, 7));
  const gateway = new ModelGateway({ gateway: settings, service, storage: createLocalStorageProvider({ root: directory }), credentials });
  const server = await GatewayServer.listen(gateway, '127.0.0.1', 0);
  const credential = credentials.mint({ executionId: 'r/i/1', models: [model], expiresAt: Date.now() + 3_600_000 });
  const direct = `${models.baseUrls.openai}/chat/completions`;
  const through = `${server.url}/openai/v1/chat/completions`;
  const call = async (url: string, stream: boolean): Promise<{ totalMs: number; firstMs: number }> => {
    const started = performance.now();
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hello' }] }),
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
    for (let i = 0; i < 50; i++) await Promise.all([call(direct, false), call(through, false)]);
    const plain: { direct: number[]; through: number[] } = { direct: [], through: [] };
    const first: { direct: number[]; through: number[] } = { direct: [], through: [] };
    for (let i = 0; i < calls; i++) {
      const stream = i % 2 === 1;
      const [viaDirect, viaGateway] =
        i % 4 < 2 ? [await call(direct, stream), await call(through, stream)] : [...[await call(through, stream), await call(direct, stream)].reverse()];
      if (stream) {
        first.direct.push(viaDirect!.firstMs);
        first.through.push(viaGateway!.firstMs);
      } else {
        plain.direct.push(viaDirect!.totalMs);
        plain.through.push(viaGateway!.totalMs);
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
      firstDirectMs: p50(first.direct),
      firstThroughMs: p50(first.through),
      failedStreams: failed,
    };
  } finally {
    await server.close();
    await models.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

process.stdout.write(`${JSON.stringify(await measure())}\n`);
