import { CairnError, isCairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { composeWhenStoreAnswers } from './compose-when-store-answers.ts';

/** A clock that moves only when the wait sleeps, and a composition that fails `failures` times first. */
function scenario(failures: readonly CairnError[]) {
  let clock = 0;
  let tries = 0;
  const waits: [string, number][] = [];
  const compose = async () => {
    const failure = failures[tries++];
    if (failure) throw failure;
    return 'composed';
  };
  const options = {
    now: () => clock,
    sleep: async (ms: number) => void (clock += ms),
    onWait: (error: CairnError, leftMs: number) => void waits.push([error.code, leftMs]),
  };
  return { compose, options, waits, tries: () => tries };
}

const down = new CairnError('CAIRN_STATE_UNAVAILABLE', 'Cannot connect to PostgreSQL at postgres:5432: connect ECONNREFUSED.', { path: 'engine.state' });

test('a store that answers after a few tries: the server composes, having said each time what it waits for and how long is left', async () => {
  const { compose, options, waits } = scenario([down, down, new CairnError('CAIRN_STORAGE_UNAVAILABLE', 'NoSuchBucket')]);
  await expect(composeWhenStoreAnswers(compose, { ...options, waitMs: 10_000 })).resolves.toBe('composed');
  expect(waits).toEqual([
    ['CAIRN_STATE_UNAVAILABLE', 10_000],
    ['CAIRN_STATE_UNAVAILABLE', 9_000],
    ['CAIRN_STORAGE_UNAVAILABLE', 8_000],
  ]);
});

test('a store that never answers: after the wait, its refusal, saying how long it waited and which setting bounds it', async () => {
  const { compose, options, tries } = scenario(Array(100).fill(down));
  const error = await composeWhenStoreAnswers(compose, { ...options, waitMs: 3_000 }).catch((caught: unknown) => caught);
  expect(isCairnError(error, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
  expect(error).toMatchObject({
    path: 'engine.state',
    message: 'Cannot connect to PostgreSQL at postgres:5432: connect ECONNREFUSED. (the server waited 3 s for it to answer: server.timeouts.storeWait)',
    action: expect.stringContaining('server.timeouts.storeWait'),
    cause: down,
  });
  expect(tries()).toBe(4);
});

test('a refusal waiting cannot change stops the server at once, and storeWait 0 tries once', async () => {
  const wrong = new CairnError('CAIRN_CONFIG_INVALID', 'the bucket has no Object Lock');
  const first = scenario([wrong]);
  await expect(composeWhenStoreAnswers(first.compose, { ...first.options, waitMs: 60_000 })).rejects.toBe(wrong);
  expect(first.waits).toEqual([]);
  const once = scenario([down]);
  await expect(composeWhenStoreAnswers(once.compose, { ...once.options, waitMs: 0 })).rejects.toBe(down);
  expect(once.tries()).toBe(1);
});
