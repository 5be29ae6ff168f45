import { describe, expect, test } from 'vitest';
import {
  assertTransition,
  attemptTransitions,
  canTransition,
  isCairnError,
  isTerminalState,
  itemStates,
  itemTransitions,
  runStates,
  runTransitions,
} from '../index.ts';

describe('lifecycle transitions', () => {
  test('every target is a state of the same lifecycle, and no state moves to itself', () => {
    for (const table of [runTransitions, itemTransitions, attemptTransitions] as Record<string, readonly string[]>[]) {
      for (const [from, targets] of Object.entries(table)) {
        for (const to of targets) {
          expect(Object.keys(table)).toContain(to);
          expect(to).not.toBe(from);
        }
      }
    }
  });

  test('every state is reachable from the first one', () => {
    for (const table of [runTransitions, itemTransitions, attemptTransitions] as Record<string, readonly string[]>[]) {
      const [first] = Object.keys(table);
      const reached = new Set([first!]);
      for (const state of reached) for (const next of table[state]!) reached.add(next);
      expect([...reached].sort()).toEqual(Object.keys(table).sort());
    }
  });

  test('terminal states are final and live ones can be cancelled', () => {
    expect(runStates.filter((state) => isTerminalState(runTransitions, state))).toEqual(['succeeded', 'failed', 'cancelled']);
    for (const state of itemStates) {
      expect(isTerminalState(itemTransitions, state) || canTransition(itemTransitions, state, 'cancelled')).toBe(true);
    }
  });

  test('a refused transition names the subject and what is allowed', () => {
    expect(() => assertTransition(itemTransitions, 'ready', 'running', 'item a')).not.toThrow();
    try {
      assertTransition(itemTransitions, 'succeeded', 'running', 'item verify of run r1');
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_LIFECYCLE_TRANSITION_INVALID')).toBe(true);
      expect((error as Error).message).toBe('item verify of run r1 cannot go from succeeded to running: succeeded is final.');
    }
    expect(() => assertTransition(runTransitions, 'queued', 'succeeded', 'run r1')).toThrow('from queued it can only become running, failed, cancelled');
  });
});
