// A planner's large fragment joins its run a step (a transaction) at a time, the engine's loop
// going round through the event loop between steps (ADR 0034): a cancel sent meanwhile takes
// effect before the fragment's last step, and a fragment that joins whole behaves as one added in
// one transaction does. Observed between the loop's turns, never timed.
import { describe, expect, test } from 'vitest';
import { ana, backends, engineHarness } from './engine.test-support.ts';

const command = (...argv: string[]) => ({ kind: 'command' as const, argv });
/** 3,000 items, about 150 KB of output.json: three steps of inserts, two of edges, two of releases. */
const size = 3_000;
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe.each(backends)('on %s', (backend) => {
  const { engineWith } = engineHarness(backend);

  test("a cancel sent while a planner's large fragment joins takes effect before its last step", async () => {
    const { engine } = await engineWith();
    engine.start();
    // Items that would run until stopped: the ones the fragment adds stay blocked or ready.
    const { runId } = engine.submit(
      { version: 1, name: 'grow', items: [{ id: 'plan', runtime: command('emit-items', String(size), 'sleep', '60000'), emits: { maxItems: size } }] },
      { actor: ana },
    );
    // The first step of the join written: some of the fragment's items are in the run.
    while (engine.run(runId)!.itemsTotal === 1) await turn();
    const during = engine.run(runId)!.itemsTotal;
    engine.cancelRun(runId, ana);
    const run = await engine.waitForRun(runId);
    // One transaction for the whole fragment would have shown it whole, or nothing of it.
    expect(during).toBeGreaterThan(1);
    expect(during).toBeLessThan(size + 1);
    expect(run).toMatchObject({ state: 'cancelled', itemsTotal: during, itemsFinished: during });
    const items = engine.items(runId);
    expect(items).toHaveLength(during);
    expect(items.find((item) => item.itemId === 'plan')).toMatchObject({ state: 'succeeded' });
    expect(items.filter((item) => item.itemId !== 'plan').every((item) => item.state === 'cancelled')).toBe(true);
    // The fragment never joined whole: no run.extended entry says it did.
    expect(engine.audit.runEntries(runId).filter((entry) => entry.action === 'run.extended')).toEqual([]);
  });

  test("a planner's large fragment joins step by step as a small one does at once: what depends on the planner waits for all of it", async () => {
    const { engine } = await engineWith({ concurrency: 64 });
    engine.start();
    const { runId } = engine.submit(
      {
        version: 1,
        name: 'grow',
        items: [
          { id: 'plan', runtime: command('emit-items', String(size), 'true'), emits: { maxItems: size } },
          { id: 'after', dependsOn: ['plan'], runtime: command('true') },
        ],
      },
      { actor: ana },
    );
    let steps = 0;
    let seen = 2;
    // Counted between turns: the fragment's items appear in several of them, not in one.
    while (engine.run(runId)!.state !== 'succeeded' && engine.run(runId)!.state !== 'failed') {
      const total = engine.run(runId)!.itemsTotal;
      if (total !== seen) (steps++, (seen = total));
      await turn();
    }
    expect(steps).toBeGreaterThan(1);
    const run = engine.run(runId)!;
    expect(run).toMatchObject({ state: 'succeeded', itemsTotal: size + 2, itemsFinished: size + 2 });
    const entries = engine.audit.runEntries(runId);
    expect(entries.filter((entry) => entry.action === 'run.extended').map((entry) => entry.data)).toEqual([
      { attempt: 1, emitter: 'plan', fragment: expect.stringMatching(/^sha256:/), items: size },
    ]);
    const position = (action: string, itemId: string) =>
      entries.findIndex((entry) => entry.action === action && (entry.data['itemId'] === itemId || entry.entity.id === `${runId}/${itemId}`));
    const afterDispatched = position('attempt.dispatched', 'after');
    for (let index = 0; index < size; index += 97) expect(position('item.succeeded', `plan/task-${index}`)).toBeLessThan(afterDispatched);
    expect(position('item.succeeded', `plan/task-${size - 1}`)).toBeLessThan(afterDispatched);
    // Its own edges joined with it: each odd item after the even one before it.
    for (let index = 1; index < size; index += 198)
      expect(position('item.succeeded', `plan/task-${index - 1}`)).toBeLessThan(position('attempt.dispatched', `plan/task-${index}`));
  });
});
