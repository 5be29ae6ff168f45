import { expect, test } from 'vitest';
import { PerKeyQueue } from './per-key-queue.ts';

test('tasks of one key run one after another, of different keys side by side; a failure does not stop the next', async () => {
  const queue = new PerKeyQueue();
  const events: string[] = [];
  const task =
    (name: string, fail = false) =>
    async () => {
      events.push(`${name} start`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      events.push(`${name} end`);
      if (fail) throw new Error(name);
      return name;
    };
  const results = await Promise.allSettled([queue.run('a', task('a1', true)), queue.run('a', task('a2')), queue.run('b', task('b1'))]);
  expect(results.map((result) => result.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
  // a2 starts only once a1 has ended; b1 starts beside a1.
  expect(events.indexOf('a2 start')).toBeGreaterThan(events.indexOf('a1 end'));
  expect(events.indexOf('b1 start')).toBeLessThan(events.indexOf('a1 end'));
});
