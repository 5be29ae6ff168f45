import { describe, expect, it } from 'vitest';
import { chooseDispatches, type DispatchCandidate, type DispatchLimits } from './choose-dispatches.ts';

const limits = (overrides: Partial<DispatchLimits> = {}): DispatchLimits => ({
  capacity: 10,
  liveByRun: new Map(),
  liveByQueue: new Map(),
  runLimit: () => undefined,
  queueLimit: () => undefined,
  heldLocks: new Map(),
  ...overrides,
});
const item = (id: string, fields: Partial<DispatchCandidate> = {}): DispatchCandidate & { id: string } => ({ id, runId: 'run', locks: [], ...fields });
const ids = (chosen: readonly { id: string }[]) => chosen.map((candidate) => candidate.id);

describe('chooseDispatches: which ready items a pass starts', () => {
  it('takes the oldest first, up to the capacity, and reads no candidate past it', () => {
    let read = 0;
    function* ready() {
      for (let index = 0; index < 100; index++) {
        read++;
        yield item(`i${index}`);
      }
    }
    expect(ids(chooseDispatches(ready(), limits({ capacity: 3 })))).toEqual(['i0', 'i1', 'i2']);
    expect(read).toBe(3);
    expect(chooseDispatches([item('a')], limits({ capacity: 0 }))).toEqual([]);
  });

  it("keeps a run's and a queue's limits, counting what runs already and what the pass chose", () => {
    const candidates = [
      item('a1', { runId: 'a' }),
      item('a2', { runId: 'a' }),
      item('b1', { runId: 'b', queue: 'gpu' }),
      item('b2', { runId: 'b', queue: 'gpu' }),
    ];
    const chosen = chooseDispatches(
      candidates,
      limits({
        liveByRun: new Map([['a', 1]]),
        runLimit: (runId) => (runId === 'a' ? 2 : null),
        liveByQueue: new Map([['gpu', 0]]),
        queueLimit: (queue) => (queue === 'gpu' ? 1 : undefined),
      }),
    );
    expect(ids(chosen)).toEqual(['a1', 'b1']);
  });

  it('an exclusive lock excludes every other holder; shared holders share', () => {
    const exclusive = (name: string) => ({ name, mode: 'exclusive' as const });
    const shared = (name: string) => ({ name, mode: 'shared' as const });
    expect(ids(chooseDispatches([item('r1', { locks: [shared('db')] }), item('r2', { locks: [shared('db')] })], limits()))).toEqual(['r1', 'r2']);
    expect(ids(chooseDispatches([item('w1', { locks: [exclusive('db')] }), item('w2', { locks: [exclusive('db')] })], limits()))).toEqual(['w1']);
    expect(ids(chooseDispatches([item('r', { locks: [shared('db')] })], limits({ heldLocks: new Map([['db', ['exclusive']]]) })))).toEqual([]);
    expect(ids(chooseDispatches([item('w', { locks: [exclusive('db')] })], limits({ heldLocks: new Map([['db', ['shared']]]) })))).toEqual([]);
  });

  it('takes all of an item’s locks or none, and a waiting item reserves its lock names for the rest of the pass (FIFO)', () => {
    const exclusive = (name: string) => ({ name, mode: 'exclusive' as const });
    const shared = (name: string) => ({ name, mode: 'shared' as const });
    const chosen = chooseDispatches(
      [
        item('writer', { locks: [exclusive('db'), exclusive('cache')] }),
        item('reader', { locks: [shared('db')] }),
        item('free', { locks: [exclusive('other')] }),
      ],
      // The writer cannot start (a reader holds db): it waits, and the younger reader does not jump it.
      limits({ heldLocks: new Map([['db', ['shared']]]) }),
    );
    expect(ids(chosen)).toEqual(['free']);
  });

  it('tells which candidates wait for locks, and which of their locks are held or reserved, but not those held back by a limit', () => {
    const exclusive = (name: string) => ({ name, mode: 'exclusive' as const });
    const waits: [string, string[]][] = [];
    const chosen = chooseDispatches(
      [
        item('writer', { locks: [exclusive('db'), exclusive('free')] }),
        item('second', { locks: [exclusive('free')] }),
        item('limited', { runId: 'full', locks: [exclusive('db')] }),
        item('plain'),
      ],
      limits({ heldLocks: new Map([['db', ['shared']]]), runLimit: (runId) => (runId === 'full' ? 0 : undefined) }),
      (candidate, locks) => waits.push([candidate.id, locks]),
    );
    expect(ids(chosen)).toEqual(['plain']);
    // 'free' is reserved by the writer that waits before it.
    expect(waits).toEqual([
      ['writer', ['db']],
      ['second', ['free']],
    ]);
  });

  it('is a function of its inputs: the same candidates and limits give the same choice, and the inputs are not changed', () => {
    const liveByRun = new Map([['run', 1]]);
    const heldLocks = new Map([['db', ['shared' as const]]]);
    const candidates = [item('a', { locks: [{ name: 'db', mode: 'shared' }] }), item('b'), item('c', { locks: [{ name: 'db', mode: 'exclusive' }] })];
    const first = chooseDispatches(candidates, limits({ liveByRun, heldLocks, runLimit: () => 3 }));
    const second = chooseDispatches(candidates, limits({ liveByRun, heldLocks, runLimit: () => 3 }));
    expect(ids(first)).toEqual(['a', 'b']);
    expect(ids(second)).toEqual(ids(first));
    expect([...liveByRun]).toEqual([['run', 1]]);
    expect([...heldLocks]).toEqual([['db', ['shared']]]);
  });
});
