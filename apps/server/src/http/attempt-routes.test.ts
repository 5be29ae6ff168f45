// An item's attempts through a real server and the client SDK: each attempt of a retried item with
// its exit code, times and why it failed; none for an item still gated; 404s naming the unknown run
// or item; 403 without runs:read. Real sandboxes, real storage, real HTTP on loopback.
import { createCairnClient, type AttemptView } from '@cairn/client';
import { isCairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();

test("a retried item's attempts come first to last, each with how it ended and why it failed", { timeout: 60_000 }, async () => {
  const { base, composition, operatorToken } = await start();
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  const { runId } = await client.submit({
    version: 1,
    name: 'attempts',
    items: [
      {
        id: 'flaky',
        retry: { maxAttempts: 2, backoff: { initial: '100ms', max: '100ms' } },
        runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo "not today" >&2; exit 3'] },
      },
      { id: 'gated', approval: 'required', runtime: { kind: 'command', argv: ['/bin/true'] } },
    ],
  });
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (composition.engine.items(runId).find((item) => item.itemId === 'flaky')?.state === 'failed') resolve(void clearInterval(poll));
    }, 50);
  });

  const attempts: AttemptView[] = await client.attempts(runId, 'flaky');
  expect(attempts.map(({ attempt, state, exitCode }) => ({ attempt, state, exitCode }))).toEqual([
    { attempt: 1, state: 'failed', exitCode: 3 },
    { attempt: 2, state: 'failed', exitCode: 3 },
  ]);
  for (const attempt of attempts) {
    expect(attempt.failure).toMatchObject({ code: 'CAIRN_EXIT_NONZERO', exitCode: 3, stderrTail: 'not today\n' });
    expect(Date.parse(attempt.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(attempt.dispatchedAt));
  }
  // The second was dispatched after the first ended: the backoff lies between them.
  expect(Date.parse(attempts[1]!.dispatchedAt)).toBeGreaterThanOrEqual(Date.parse(attempts[0]!.finishedAt!));
  // The answer is the engine's record, nothing more (no executor handle, no fencing token).
  expect(attempts[0]).not.toHaveProperty('handle');
  expect(attempts).toEqual(JSON.parse(JSON.stringify(composition.engine.attempts(runId, 'flaky'))));

  // An item waiting for its approval has not made an attempt.
  expect(await client.attempts(runId, 'gated')).toEqual([]);
});

test('an unknown run or item is a 404 naming it; a token without runs:read gets 403', { timeout: 60_000 }, async () => {
  const { base, composition, operatorToken } = await start();
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  const { runId } = await client.submit({ version: 1, name: 'one', items: [{ id: 'one', runtime: { kind: 'command', argv: ['/bin/true'] } }] });
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) => (isCairnError(error) ? { code: error.code, path: error.path, message: error.message } : error),
    );
  expect(await refusal(client.attempts('r-nope', 'one'))).toMatchObject({ code: 'CAIRN_NOT_FOUND', path: 'runId', message: expect.stringContaining('r-nope') });
  expect(await refusal(client.attempts(runId, 'nope'))).toMatchObject({ code: 'CAIRN_NOT_FOUND', path: 'itemId', message: expect.stringContaining('"nope"') });

  const { token } = await composition.tokens.create('submitter', ['runs:submit']);
  const forbidden = await fetch(`${base}/v1/runs/${runId}/items/one/attempts`, { headers: { authorization: `Bearer ${token}` } });
  expect(forbidden.status).toBe(403);
  expect(await forbidden.json()).toMatchObject({ code: 'CAIRN_FORBIDDEN' });
});
