import type { ExecutionStatus } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import type { AttemptRecord } from './attempt-store.ts';
import { PushedExits, type PushedExit } from './pushed-exits.ts';

const exited: ExecutionStatus = { state: 'exited', outcome: 'succeeded', exitCode: 0 };
const exitOf = (executionId: string): PushedExit => ({ attempt: { executionId } as AttemptRecord, status: exited });

describe('PushedExits: where each attempt stands with its pushed exit', () => {
  it('keeps an exit pushed while its attempt is being started for the pass, once; not an unknown one, nor one of an attempt not starting', () => {
    const exits = new PushedExits(async () => {});
    expect(exits.keepIfStarting('a', exited)).toBe(false);
    exits.starting('a');
    expect(exits.takeEarly('a')).toBeUndefined();
    expect(exits.keepIfStarting('a', { state: 'unknown' })).toBe(true);
    expect(exits.takeEarly('a')).toBeUndefined();
    expect(exits.keepIfStarting('a', exited)).toBe(true);
    expect(exits.takeEarly('a')).toBe(exited);
    expect(exits.takeEarly('a')).toBeUndefined();
    exits.startSettled('a');
    expect(exits.keepIfStarting('a', exited)).toBe(false);
  });

  it('awaits the exit of an attempt started on a pushing executor until its end is recorded; recovery forgets it', () => {
    const exits = new PushedExits(async () => {});
    exits.starting('a');
    exits.awaitExit('a');
    exits.startSettled('a');
    expect(exits.isAwaited('a')).toBe(true);
    exits.ended('a');
    expect(exits.isAwaited('a')).toBe(false);
    exits.awaitExit('b');
    exits.forget('b');
    expect(exits.isAwaited('b')).toBe(false);
  });

  it('records the exits pushed in one tick in one batch, in the order they came', async () => {
    const batches: string[][] = [];
    const exits = new PushedExits(async (batch) => {
      batches.push(batch.map(({ attempt }) => attempt.executionId));
    });
    await Promise.all([exits.record(exitOf('b')), exits.record(exitOf('a'))]);
    await exits.record(exitOf('c'));
    expect(batches).toEqual([['b', 'a'], ['c']]);
  });

  it('keeps the exits of a batch that could not be written, awaited as they were, until a later try writes them', async () => {
    let failing = true;
    const written: string[] = [];
    const exits = new PushedExits(async (batch) => {
      if (failing) throw new Error('disk full');
      written.push(...batch.map(({ attempt }) => attempt.executionId));
    });
    exits.awaitExit('awaited');
    await expect(Promise.all([exits.record(exitOf('awaited')), exits.record(exitOf('recovered'))])).rejects.toThrow('disk full');
    expect(exits.unrecorded).toBe(2);
    // An attempt whose exit came by itself stays skipped by reconcile; one never awaited does not.
    expect(exits.isAwaited('awaited')).toBe(true);
    expect(exits.isAwaited('recovered')).toBe(false);
    // Its end recorded by reconcile meanwhile: the exit stays queued (a second write finds it recorded).
    exits.ended('awaited');
    expect(exits.unrecorded).toBe(2);
    await expect(exits.recordUnrecorded()).rejects.toThrow('disk full');
    expect(exits.unrecorded).toBe(2);
    failing = false;
    expect(await exits.recordUnrecorded()).toBe(2);
    expect(written).toEqual(['awaited', 'recovered']);
    expect(exits.unrecorded).toBe(0);
    expect(await exits.recordUnrecorded()).toBe(0);
    expect(exits.isAwaited('awaited')).toBe(false);
  });
});
