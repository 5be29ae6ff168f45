import { expect, test } from 'vitest';
import { undoEach } from './undo-each.ts';

test('every step runs, in order, though one fails; the first failure is thrown after the last step', async () => {
  const ran: string[] = [];
  const step =
    (name: string, fails = false) =>
    async () => {
      ran.push(name);
      if (fails) throw new Error(`${name} failed`);
    };
  await expect(undoEach([step('overlay'), step('snapshot', true), step('hold'), step('volume', true), step('tmp')])).rejects.toThrow('snapshot failed');
  expect(ran).toEqual(['overlay', 'snapshot', 'hold', 'volume', 'tmp']);
});

test('no failure, nothing thrown', async () => {
  const ran: number[] = [];
  await undoEach([1, 2, 3].map((n) => async () => void ran.push(n)));
  expect(ran).toEqual([1, 2, 3]);
});
