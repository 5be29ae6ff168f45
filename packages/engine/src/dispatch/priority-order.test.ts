import type { ItemPriority, ItemSpec, RunSpecV1 } from '@cairn/core';
import { describe, expect, test } from 'vitest';
import { ana, backends, engineHarness } from '../engine.test-support.ts';

// Dispatch order by priority (5 first), FIFO by ready time within a level, and aging: a waiting
// item rises a level every `priorityAgingSeconds`. The engine's clock is the test's (`now`), so
// ready times are exact and nothing waits for real time.
describe.each(backends)('dispatch priority (%s)', (backend) => {
  const { engineWith, storeReads } = engineHarness(backend);

  /** The items of `runIds` in the order their attempts were dispatched, as `run/item`, read from the audit log. */
  const dispatchOrder = async (engine: Awaited<ReturnType<typeof engineWith>>['engine']): Promise<string[]> => {
    const entries = await (await storeReads(engine)).auditPage(0, 100_000, ['attempt.dispatched']);
    return entries.map((entry) => `${entry.runId}/${(entry.data as { itemId: string }).itemId}`);
  };

  const spec = (name: string, items: ItemSpec[], more: Partial<RunSpecV1> = {}): RunSpecV1 => ({ version: 1, name, ...more, items });
  const item = (id: string, priority?: ItemPriority): ItemSpec => ({ id, runtime: { kind: 'command', argv: ['true'] }, ...(priority ? { priority } : {}) });

  // 1,000 items on SQLite. On PostgreSQL the order is decided by the same SQL on the leader's
  // working copy, and each pass of one item (half the concurrency) waits for its commit: a tenth
  // of them keeps the test to seconds while still checking what PostgreSQL stores.
  const scale = backend === 'sqlite' ? 1 : 10;

  test(`${1_000 / scale} queued items under concurrency 2: highest priority first, FIFO within a priority; runs and items show theirs`, async () => {
    const clock = { now: Date.parse('2026-03-01T09:00:00.000Z') };
    const { engine } = await engineWith({ concurrency: 2, now: () => clock.now });
    // Ready one second apart, so FIFO by ready time is seen across runs too: a run of priority 1,
    // a run whose items set their own (cycling 1 to 5, one of them none: the default, 3), a run
    // of priority 5 given as defaults.priority, and a second run of priority 1.
    const submitted: { runId: string; itemId: string; priority: number }[] = [];
    const submit = (document: RunSpecV1, priorityOf: (item: ItemSpec) => number) => {
      const { runId } = engine.submit(document, { actor: ana });
      for (const { id } of document.items) submitted.push({ runId, itemId: id, priority: priorityOf(document.items.find((entry) => entry.id === id)!) });
      clock.now += 1_000;
      return runId;
    };
    const low = submit(
      spec(
        'low',
        Array.from({ length: 200 / scale }, (_, index) => item(`low-${index}`)),
        { priority: 1 },
      ),
      () => 1,
    );
    const levels = [5, 4, 3, 2, 1, undefined] as const;
    const mixed = submit(
      spec(
        'mixed',
        Array.from({ length: 400 / scale }, (_, index) => item(`mixed-${index}`, levels[index % levels.length])),
      ),
      (entry) => entry.priority ?? 3,
    );
    const high = submit(
      spec(
        'high',
        Array.from({ length: 200 / scale }, (_, index) => item(`high-${index}`)),
        { defaults: { priority: 5 } },
      ),
      () => 5,
    );
    const lowAgain = submit(
      spec('low-again', [...Array.from({ length: 200 / scale - 1 }, (_, index) => item(`again-${index}`)), item('again-urgent', 5)], { priority: 1 }),
      (entry) => entry.priority ?? 1,
    );
    expect(submitted).toHaveLength(1_000 / scale);
    engine.start();
    for (const runId of [low, mixed, high, lowAgain]) expect((await engine.waitForRun(runId)).state).toBe('succeeded');

    // Submitted in order, one second apart (far less than an aging step of 300 s, which cannot
    // reorder items this close): by priority, highest first, then by submission.
    const expected = submitted
      .map((entry, index) => ({ ...entry, index }))
      .sort((a, b) => b.priority - a.priority || a.index - b.index)
      .map(({ runId, itemId }) => `${runId}/${itemId}`);
    expect(await dispatchOrder(engine)).toEqual(expected);

    const reads = await storeReads(engine);
    expect(await Promise.all([low, mixed, high, lowAgain].map(async (runId) => (await reads.run(runId))?.priority))).toEqual([1, 3, 5, 1]);
    const mixedItems = await reads.items(mixed);
    expect(mixedItems.slice(0, 6).map((entry) => entry.priority)).toEqual([5, 4, 3, 2, 1, 3]);
    expect((await reads.items(lowAgain)).at(-1)).toMatchObject({ itemId: 'again-urgent', priority: 5 });
  });

  test('a low-priority item still runs under a steady stream of high-priority ones: it rises a level every priorityAgingSeconds', async () => {
    const clock = { now: Date.parse('2026-03-01T09:00:00.000Z') };
    const { engine } = await engineWith({ concurrency: 1, now: () => clock.now, priorityAgingSeconds: 60 });
    // One item of priority 1, then a priority-5 item every 30 s for 8 minutes, all waiting.
    const starved = engine.submit(spec('starved', [item('once')], { priority: 1 }), { actor: ana }).runId;
    const stream: string[] = [];
    for (let tick = 1; tick <= 16; tick++) {
      clock.now += 30_000;
      stream.push(engine.submit(spec(`stream-${tick}`, [item('urgent', 5)]), { actor: ana }).runId);
    }
    engine.start();
    for (const runId of [starved, ...stream]) expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    // Four levels apart at 60 s a level: once the low item has waited 4 × 60 s more than a high one
    // it goes first. The stream's items ready in its first 240 s (ticks 1 to 7; tick 8 ties, and
    // the earlier submitted goes first) run before it, those after it after it.
    const order = await dispatchOrder(engine);
    expect(order.indexOf(`${starved}/once`)).toBe(7);
    expect(order).toEqual([...stream.slice(0, 7).map((runId) => `${runId}/urgent`), `${starved}/once`, ...stream.slice(7).map((runId) => `${runId}/urgent`)]);
  });

  // The contrast needs no second backend: the order is the same SQL on either.
  if (backend === 'sqlite')
    test('without aging to speak of (a year a level), the same stream keeps the low item last: the aging moved it', async () => {
      const clock = { now: Date.parse('2026-03-01T09:00:00.000Z') };
      const { engine } = await engineWith({ concurrency: 1, now: () => clock.now, priorityAgingSeconds: 31_536_000 });
      const starved = engine.submit(spec('starved', [item('once')], { priority: 1 }), { actor: ana }).runId;
      const stream: string[] = [];
      for (let tick = 1; tick <= 10; tick++) {
        clock.now += 30_000;
        stream.push(engine.submit(spec(`stream-${tick}`, [item('urgent', 5)]), { actor: ana }).runId);
      }
      engine.start();
      for (const runId of [starved, ...stream]) expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      expect((await dispatchOrder(engine)).at(-1)).toBe(`${starved}/once`);
    });
});
