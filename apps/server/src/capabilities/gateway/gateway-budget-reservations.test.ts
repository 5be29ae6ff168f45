// Budgets against concurrent calls (ADR 0033), through a running server: each call reserves its
// estimate (its request's size and max_tokens) of its item's and its run's budgets before it is
// sent, and settles to what it spent after, so 30 calls sent at once against a budget of 300 tokens
// (100 tokens each) spend 300, not 3,000: the calls that do not fit wait for those in flight, then
// are refused. The provider holds every answer until the test has seen where each call is.
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import type { AuditEntry } from '@cairn/core';
import { AttemptCredentials } from './attempt-credentials.ts';
import { gatewayServers, writtenModelCalls } from './gateway-server.test-support.ts';

const start = gatewayServers();
const model = 'claude-sonnet-4-5';
const calls = 30;

/** A call the test watches: told it waits (a 1xx), or answered. */
interface WatchedCall {
  waiting: boolean;
  readonly answered: Promise<{ status: number; code: string | undefined; body: string }>;
}

function watchedCall(gatewayUrl: string, credential: string, body: string): WatchedCall {
  const call: { waiting: boolean } = { waiting: false };
  const answered = new Promise<{ status: number; code: string | undefined; body: string }>((resolve, reject) => {
    const request = httpRequest(`${gatewayUrl}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-cairn-credential': credential, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    });
    request.on('information', () => (call.waiting = true));
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          code: response.headers['x-cairn-error'] as string | undefined,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
  return Object.assign(call, { answered });
}

/**
 * Starts a server whose provider answers every call with 100 tokens once the test releases it, runs
 * `items` command items (live attempts the test calls for) under `budget`, and sends 30 calls at
 * once spread over them; releases the answers once each call is at the provider, waiting, or
 * answered. Returns the answers, the provider's calls, and the run's spend.
 */
async function thirtyAtOnce(options: {
  readonly items: number;
  readonly itemBudget?: object;
  readonly runBudget?: object;
  readonly gateway?: Record<string, unknown>;
}) {
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const answer = { text: 'ok', heldUntil: held, usage: { inputTokens: 40, outputTokens: 60 } };
  try {
    const { api, composition, directory, models } = await start(
      { anthropic: Array.from({ length: calls }, () => answer), isSideCall: () => false },
      { provider: 'anthropic', providerKey: 'sk-provider-5e1f', runtimes: {}, ...(options.gateway ? { gateway: options.gateway } : {}) },
    );
    const ids = Array.from({ length: options.items }, (_, index) => `item${index}`);
    const submitted = await api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        version: 1,
        name: 'concurrent',
        ...(options.runBudget ? { budget: options.runBudget } : {}),
        items: ids.map((id) => ({
          id,
          runtime: { kind: 'command', argv: ['sleep', '60'] },
          timeout: '90s',
          ...(options.itemBudget ? { budget: options.itemBudget } : {}),
        })),
      }),
    });
    expect(submitted.status).toBe(201);
    const { runId } = (await submitted.json()) as { runId: string };
    const credentials = await AttemptCredentials.fromKeyFile(join(directory, 'cairn-data', 'gateway.key'));
    for (const id of ids) while (composition.engine.liveAttempt(`${runId}/${id}/1`) === undefined) await sleep(20);
    // 60 bytes of max_tokens and 40 of input: what each call reserves is about what it spends.
    const body = JSON.stringify({ model, max_tokens: 60, messages: [{ role: 'user', content: 'x'.repeat(40) }] });
    const reserved = Math.ceil(Buffer.byteLength(body) / 4) + 60;
    const sent = Array.from({ length: calls }, (_, index) =>
      watchedCall(
        composition.gatewayUrl!,
        credentials.mint({ executionId: `${runId}/${ids[index % ids.length]}/1`, models: [model], expiresAt: Date.now() + 60_000 }),
        body,
      ),
    );
    const settled = new Set<WatchedCall>();
    for (const call of sent) void call.answered.then(() => settled.add(call));
    // Every call is somewhere the test can see: at the provider, told it waits, or answered.
    while (models.turns('anthropic').length + sent.filter((call) => call.waiting || settled.has(call)).length < calls) await sleep(20);
    const atProviderBeforeRelease = models.turns('anthropic').length;
    release();
    const answers = await Promise.all(sent.map((call) => call.answered));
    // A call's spend is counted once its entry is written, a flush after its answer (ADR 0059).
    const count = (outcome: string) => (written: readonly AuditEntry[]) => written.filter((entry) => entry.outcome === outcome).length;
    const entries = await writtenModelCalls(
      composition,
      runId,
      (written) =>
        count('success')(written) === answers.filter((answer) => answer.status === 200).length &&
        count('denied')(written) >= answers.filter((answer) => answer.status === 402).length,
    );
    const { spend } = (await (await api(`/v1/runs/${runId}`)).json()) as { spend: { total: { inputTokens: number; outputTokens: number } } };
    await api(`/v1/runs/${runId}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    return {
      answers,
      reserved,
      atProviderBeforeRelease,
      providerCalls: models.turns('anthropic').length,
      spentTokens: spend.total.inputTokens + spend.total.outputTokens,
      entries,
    };
  } finally {
    release();
  }
}

test(
  '30 concurrent calls against an item budget of 300 tokens spend at most 300 and one call’s excess; the rest are refused',
  { timeout: 120_000 },
  async () => {
    const result = await thirtyAtOnce({ items: 1, itemBudget: { tokens: 300 } });
    // Each call spends 100 tokens; it reserved `reserved`, so it may pass its reservation by the difference.
    const excess = Math.max(0, 100 - result.reserved);
    expect(result.spentTokens).toBeLessThanOrEqual(300 + excess);
    expect(result.spentTokens).toBeGreaterThanOrEqual(200);
    expect(result.atProviderBeforeRelease).toBeLessThanOrEqual(3);
    expect(result.providerCalls).toBe(result.spentTokens / 100);
    // Each reserves less than 100, so three fit in 300 at once, and then the budget is spent.
    expect([result.reserved, result.providerCalls, result.spentTokens]).toEqual([92, 3, 300]);
    const refused = result.answers.filter((answer) => answer.status === 402);
    expect(refused).toHaveLength(calls - result.providerCalls);
    expect(refused.every((answer) => answer.code === 'CAIRN_BUDGET_EXCEEDED')).toBe(true);
    expect(result.entries.filter((entry) => entry.outcome === 'denied')).toHaveLength(refused.length);
  },
);

test('a run budget of 300 tokens across 3 items × 10 concurrent calls holds the same way', { timeout: 120_000 }, async () => {
  // A run's spent budget holds its calls for a raise; here it refuses them at once.
  const result = await thirtyAtOnce({ items: 3, runBudget: { tokens: 300 }, gateway: { maxBudgetWaitMs: 0 } });
  const excess = Math.max(0, 100 - result.reserved);
  expect(result.spentTokens).toBeLessThanOrEqual(300 + excess);
  expect(result.spentTokens).toBeGreaterThanOrEqual(200);
  expect(result.atProviderBeforeRelease).toBeLessThanOrEqual(3);
  expect(result.answers.filter((answer) => answer.status === 402)).toHaveLength(calls - result.providerCalls);
  expect([result.providerCalls, result.spentTokens]).toEqual([3, 300]);
});

test('a tokensPerMinute quota of 300 holds the same way against 30 concurrent calls', { timeout: 120_000 }, async () => {
  // A quota that is full makes a call wait for room, here for 5 s, then refuses it (429). (Not at
  // once: a call queued behind another's try would be refused before its own.)
  const result = await thirtyAtOnce({ items: 1, gateway: { quotas: { anthropic: { tokensPerMinute: 300 } }, maxQuotaWaitMs: 5_000 } });
  expect(result.atProviderBeforeRelease).toBeLessThanOrEqual(3);
  expect([result.providerCalls, result.spentTokens]).toEqual([3, 300]);
  const refused = result.answers.filter((answer) => answer.status === 429);
  expect(refused).toHaveLength(calls - 3);
  expect(refused.every((answer) => answer.code === 'CAIRN_MODEL_QUOTA_FULL')).toBe(true);
});
