// Waiting for room under the providers' quotas (ADR 0033): a call waits until one ends, in the order
// the calls came, up to the longest wait, then is refused saying which quota was full; the calls of
// one process waiting under the same quotas ask the ledger one at a time, not each on its own.
//
// Time is vitest's fake clock (Date.now and setTimeout, which the quotas wait with), moved by each
// test: a wait is then exactly what the test made it, however slow or loaded the machine.
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { ProviderQuotas, type QuotaHold } from './provider-quotas.ts';
import type { QuotaLedger } from './quota-ledger.ts';

const never = new AbortController().signal;

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Waits `milliseconds` of the fake clock. */
function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Moves the fake clock on until `outcome` settles (the quotas' naps and the ledgers' delays fire on the way). */
async function settled<T>(outcome: Promise<T>): Promise<T> {
  await vi.runAllTimersAsync();
  return outcome;
}

function held(outcome: QuotaHold | { refused: string; waitedMs: number }): QuotaHold {
  if (!('release' in outcome)) throw new Error(`refused: ${outcome.refused}`);
  return outcome;
}

test('a call waits for room and takes it when a call ends; waiting calls get room in the order they came', async () => {
  const quotas = new ProviderQuotas({ openai: { concurrent: 1 } }, 5_000);
  const first = held(await quotas.acquire('openai', 'gpt-4o', never));
  expect(first.waitedMs).toBe(0);
  const order: string[] = [];
  const waiting = ['second', 'third', 'fourth'].map(async (name) => {
    const hold = held(await quotas.acquire('openai', 'gpt-4o', never));
    order.push(name);
    await sleep(35);
    hold.release(0);
    return hold;
  });
  await vi.advanceTimersByTimeAsync(100);
  expect(order).toEqual([]);
  first.release(0);
  // Each takes room as soon as the one before it ends, not at its next look (every 10 ms).
  await vi.advanceTimersByTimeAsync(0);
  expect(order).toEqual(['second']);
  await vi.advanceTimersByTimeAsync(35);
  expect(order).toEqual(['second', 'third']);
  await vi.advanceTimersByTimeAsync(35);
  expect(order).toEqual(['second', 'third', 'fourth']);
  const holds = await settled(Promise.all(waiting));
  // Each records its whole wait: the first's 100 ms, then the holds of those before it.
  expect(holds.map((hold) => hold.waitedMs)).toEqual([100, 135, 170]);
});

test('calls that find room wait for nothing, even queued behind each other; a call that found a quota full records its whole wait', async () => {
  let asked = 0;
  // A ledger that takes 20 ms per try (a slow database), with room for three calls.
  const slow: QuotaLedger = {
    pollIntervalMs: 10,
    take: async () => {
      await sleep(20);
      return ++asked <= 3 ? { release: () => Promise.resolve() } : { full: { key: 'openai', reason: '3 calls in flight' } };
    },
    close: () => Promise.resolve(),
  };
  const quotas = new ProviderQuotas({ openai: { concurrent: 3 } }, 100, slow);
  const outcomes = await settled(Promise.all(Array.from({ length: 4 }, () => quotas.acquire('openai', 'gpt-4o', never))));
  // The third took room 60 ms after it came (two tries before its own), and waited for no quota.
  expect(outcomes.slice(0, 3).map((outcome) => held(outcome).waitedMs)).toEqual([0, 0, 0]);
  expect(outcomes[3]).toMatchObject({ refused: expect.stringMatching(/^the openai quota is full \(3 calls in flight\) and stayed so for \d+ ms$/) });
  expect(outcomes[3]!.waitedMs).toBeGreaterThanOrEqual(100);
});

test("a model's quota and its provider's both apply; a call that names neither waits for nothing", async () => {
  const quotas = new ProviderQuotas({ openai: { concurrent: 3 }, 'openai/gpt-4o': { concurrent: 1 } }, 50);
  held(await quotas.acquire('openai', 'gpt-4o', never));
  expect(await settled(quotas.acquire('openai', 'gpt-4o', never))).toMatchObject({
    refused: expect.stringMatching(/^the openai\/gpt-4o quota is full \(1 calls in flight\) and stayed so for \d+ ms$/),
  });
  held(await quotas.acquire('openai', 'gpt-4.1', never));
  held(await quotas.acquire('openai', 'gpt-4.1', never));
  expect(await settled(quotas.acquire('openai', 'gpt-4.1', never))).toMatchObject({
    refused: expect.stringContaining('the openai quota is full (3 calls in flight)'),
  });
  for (let call = 0; call < 5; call++) expect(held(await quotas.acquire('anthropic', 'claude-sonnet-4-5', never)).waitedMs).toBe(0);
});

test('a call refused after the longest wait says how long it waited; an abandoned call stops waiting at once', async () => {
  const quotas = new ProviderQuotas({ openai: { concurrent: 1 } }, 150);
  held(await quotas.acquire('openai', 'gpt-4o', never));
  const refused = await settled(quotas.acquire('openai', 'gpt-4o', never));
  expect(refused).toMatchObject({ refused: expect.stringContaining('(1 calls in flight)') });
  expect((refused as { waitedMs: number }).waitedMs).toBeGreaterThanOrEqual(150);
  const abandoned = new AbortController();
  const waiting = quotas.acquire('openai', 'gpt-4o', abandoned.signal);
  await vi.advanceTimersByTimeAsync(30);
  abandoned.abort();
  // Refused at the abort (30 ms), not at its next look nor after the longest wait.
  expect(await settled(waiting)).toMatchObject({ refused: expect.stringContaining('quota is full'), waitedMs: 30 });
});

test('calls waiting under the same quotas ask the ledger one at a time, at its interval', async () => {
  let asked = 0;
  const alwaysFull: QuotaLedger = {
    pollIntervalMs: 20,
    take: () => {
      asked++;
      return Promise.resolve({ full: { key: 'openai', reason: '1 calls in flight' } });
    },
    close: () => Promise.resolve(),
  };
  const quotas = new ProviderQuotas({ openai: { concurrent: 1 } }, 200, alwaysFull);
  const outcomes = await settled(Promise.all(Array.from({ length: 10 }, () => quotas.acquire('openai', 'gpt-4o', never))));
  expect(outcomes.every((outcome) => 'refused' in outcome && outcome.refused.startsWith('the openai quota is full (1 calls in flight)'))).toBe(true);
  // Ten callers each asking every 20 ms for 200 ms would have asked about a hundred times.
  expect(asked).toBeGreaterThanOrEqual(5);
  expect(asked).toBeLessThanOrEqual(20);
});
