import type { AttemptState, ExecutionStatus } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../store/sqlite/attempt-store.ts';
import { PushedExits, type PushedExit } from './pushed-exits.ts';

const exited: ExecutionStatus = { state: 'exited', outcome: 'succeeded', exitCode: 0 };
const attempt = (executionId: string, state: AttemptState = 'running') => ({ executionId, state }) as AttemptRecord;
// Exits over a store where every attempt named is in `state`, writing batches with `write`.
const pushedExits = (write: (exits: readonly PushedExit[]) => Promise<void> = async () => {}, state: AttemptState = 'running') =>
  new PushedExits({ attemptOf: (executionId) => attempt(executionId, state), write });
const ids = (exits: readonly PushedExit[]) => exits.map(({ attempt }) => attempt.executionId);

describe('PushedExits: where each attempt stands with its pushed exit', () => {
  it('keeps an exit pushed while its attempt is being started for the pass, once, and not an unknown one', async () => {
    const written: string[] = [];
    const exits = pushedExits(async (batch) => void written.push(...ids(batch)));
    exits.starting('a');
    expect(exits.takeEarly('a')).toBeUndefined();
    expect(await exits.pushed('a', { state: 'unknown' })).toBe(false);
    expect(exits.takeEarly('a')).toBeUndefined();
    expect(await exits.pushed('a', exited)).toBe(false);
    expect(exits.takeEarly('a')).toBe(exited);
    expect(exits.takeEarly('a')).toBeUndefined();
    expect(written).toEqual([]);
    // Once the pass is done with it, an exit pushed for it is recorded as any other.
    exits.startSettled('a');
    expect(await exits.pushed('a', exited)).toBe(true);
    expect(written).toEqual(['a']);
  });

  it('records nothing for an attempt that is not running: finished, unknown, or being started by recovery', async () => {
    for (const state of ['succeeded', 'dispatching'] as const) {
      const exits = pushedExits(async () => expect.unreachable('nothing is written'), state);
      expect(await exits.pushed('a', exited)).toBe(false);
    }
    const unknown = new PushedExits({ attemptOf: () => undefined, write: async () => expect.unreachable('nothing is written') });
    expect(await unknown.pushed('a', exited)).toBe(false);
    // A running task still running is not an end.
    expect(await pushedExits(async () => expect.unreachable('nothing is written')).pushed('a', { state: 'running' })).toBe(false);
  });

  it('awaits the exit of an attempt started on a pushing executor until its end is recorded; recovery forgets it', () => {
    const exits = pushedExits();
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

  it('records the exits pushed in one tick in one batch, in the order they came; a lost task is an end', async () => {
    const batches: string[][] = [];
    const exits = pushedExits(async (batch) => void batches.push(ids(batch)));
    expect(await Promise.all([exits.pushed('b', exited), exits.pushed('a', { state: 'unknown' })])).toEqual([true, true]);
    await exits.pushed('c', exited);
    expect(batches).toEqual([['b', 'a'], ['c']]);
  });

  it('keeps the exits of a batch that could not be written, awaited as they were, until a later try writes them', async () => {
    let failing = true;
    const written: string[] = [];
    const exits = pushedExits(async (batch) => {
      if (failing) throw new Error('disk full');
      written.push(...ids(batch));
    });
    exits.awaitExit('awaited');
    await expect(Promise.all([exits.pushed('awaited', exited), exits.pushed('recovered', exited)])).rejects.toThrow('disk full');
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
