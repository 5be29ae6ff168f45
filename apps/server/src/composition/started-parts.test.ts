import { expect, test } from 'vitest';
import { StartedParts } from './started-parts.ts';

/** A part that records when it starts and closes into `log`. */
function recorded(log: string[], name: string) {
  return [name, async () => (log.push(`start ${name}`), name), async (part: string) => void log.push(`close ${part}`)] as const;
}

test('parts close in the reverse of the order they started, each once', async () => {
  const log: string[] = [];
  const parts = new StartedParts();
  expect(await parts.startInOrder(...recorded(log, 'stores'))).toBe('stores');
  await parts.startInOrder(...recorded(log, 'gateway'));
  await parts.startInOrder(...recorded(log, 'engine'));
  expect(parts.names).toEqual(['stores', 'gateway', 'engine']);
  await parts.closeInReverse();
  await parts.closeInReverse();
  expect(log).toEqual(['start stores', 'start gateway', 'start engine', 'close engine', 'close gateway', 'close stores']);
  expect(parts.names).toEqual([]);
});

test('a part that fails to start closes the parts started before it, in reverse, and its error is thrown', async () => {
  const log: string[] = [];
  const parts = new StartedParts();
  await parts.startInOrder(...recorded(log, 'tracing'));
  await parts.startInOrder(...recorded(log, 'stores'));
  const refused = new Error('the port is taken');
  const closeOfFailed = async () => void log.push('close gateway');
  await expect(parts.startInOrder('gateway', () => Promise.reject(refused), closeOfFailed)).rejects.toBe(refused);
  expect(log).toEqual(['start tracing', 'start stores', 'close stores', 'close tracing']);
  expect(parts.names).toEqual([]);
  // A start that throws synchronously is a failed start too.
  await parts.startInOrder(...recorded(log, 'again'));
  await expect(
    parts.startInOrder(
      'triggers',
      () => {
        throw new Error('bad template');
      },
      () => undefined,
    ),
  ).rejects.toThrow('bad template');
  expect(log.slice(-2)).toEqual(['start again', 'close again']);
});

test('a close that fails keeps no other part open; a failed start still throws its own error, carrying the close failures', async () => {
  const log: string[] = [];
  const parts = new StartedParts();
  await parts.startInOrder(...recorded(log, 'stores'));
  const stuck = new Error('the database did not close');
  await parts.startInOrder(
    'engine',
    () => 'engine',
    () => Promise.reject(stuck),
  );
  await parts.startInOrder(...recorded(log, 'triggers'));
  await expect(parts.closeInReverse()).rejects.toBe(stuck);
  expect(log).toEqual(['start stores', 'start triggers', 'close triggers', 'close stores']);

  const second = new Error('the gateway did not close');
  await parts.startInOrder(
    'gateway',
    () => 'gateway',
    () => Promise.reject(second),
  );
  await parts.startInOrder(
    'engine',
    () => 'engine',
    () => Promise.reject(stuck),
  );
  const both = await parts.closeInReverse().catch((error: unknown) => error);
  expect(both).toBeInstanceOf(AggregateError);
  expect((both as AggregateError).errors).toEqual([stuck, second]);

  await parts.startInOrder(
    'engine',
    () => 'engine',
    () => Promise.reject(stuck),
  );
  const refused = new Error('the port is taken');
  await expect(
    parts.startInOrder(
      'gateway',
      () => Promise.reject(refused),
      () => undefined,
    ),
  ).rejects.toMatchObject({
    message: 'the port is taken',
    closeErrors: [stuck],
  });
});
