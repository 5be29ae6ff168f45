// The group commit's holds: something kept outside the state store that an entry names (a model
// call's bodies in storage) is made durable before any commit carries the entry, and a hold that
// fails breaks the commit for good, as a failed flush does.
import { CairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { CommitPipeline } from './commit-pipeline.ts';

/** A pipeline whose flushes are recorded in `events` and land when the test says. */
function recordedPipeline() {
  const events: string[] = [];
  const landings: (() => void)[] = [];
  let flushes = 0;
  const pipeline = new CommitPipeline(
    () => {
      const flush = ++flushes;
      events.push(`flush ${flush} began`);
      return new Promise<void>((resolve) =>
        landings.push(() => {
          events.push(`flush ${flush} landed`);
          resolve();
        }),
      );
    },
    (cause) => new Error(`broken: ${(cause as Error).message}`),
  );
  const landNext = async () => {
    for (let wait = 0; wait < 50 && landings.length === 0; wait++) await Promise.resolve();
    landings.shift()!();
  };
  return { pipeline, events, landNext };
}

function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((yes, no) => ((resolve = yes), (reject = no)));
  return { promise, resolve, reject };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a commit called after a hold begins its flush only once what was held is durable', async () => {
  const { pipeline, events, landNext } = recordedPipeline();
  const body = deferred();
  pipeline.commit.hold!(body.promise.then(() => void events.push('body durable')));
  const committed = pipeline.commit();
  await settle();
  expect(events).toEqual([]);
  body.resolve();
  await settle();
  expect(events).toEqual(['body durable', 'flush 1 began']);
  await landNext();
  await committed;
  // Held no more: the next commit flushes at once.
  const next = pipeline.commit();
  expect(events.at(-1)).toBe('flush 2 began');
  await landNext();
  await next;
});

test('a commit that joined the next flush before the hold was made waits for it too, as does a hold made while a flush waits', async () => {
  const { pipeline, events, landNext } = recordedPipeline();
  const first = pipeline.commit();
  expect(events).toEqual(['flush 1 began']);
  // Joins flush 2 (flush 1 is under way); the hold comes after, with the write that needs it.
  const joined = pipeline.commit();
  const request = deferred();
  pipeline.commit.hold!(request.promise.then(() => void events.push('request durable')));
  await landNext();
  await first;
  await settle();
  expect(events).toEqual(['flush 1 began', 'flush 1 landed']);
  // While flush 2 waits, another call is recorded and held: flush 2 carries its write too, so it waits for both.
  const response = deferred();
  pipeline.commit.hold!(response.promise.then(() => void events.push('response durable')));
  request.resolve();
  await settle();
  expect(events.at(-1)).toBe('request durable');
  response.resolve();
  await settle();
  expect(events.slice(-2)).toEqual(['response durable', 'flush 2 began']);
  await landNext();
  await joined;
});

test('a hold that fails breaks the commit for good with its own error, and nothing is flushed after it', async () => {
  const { pipeline, events } = recordedPipeline();
  const body = deferred();
  pipeline.commit.hold!(body.promise);
  const committed = pipeline.commit();
  const failure = new CairnError('CAIRN_STATE_UNAVAILABLE', 'a body could not be made durable');
  body.reject(failure);
  await expect(committed).rejects.toBe(failure);
  await expect(pipeline.commit()).rejects.toBe(failure);
  expect(pipeline.broken).toBe(failure);
  expect(await pipeline.failed).toBe(failure);
  expect(events).toEqual([]);
});
