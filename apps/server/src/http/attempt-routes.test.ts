// An item's attempts through a real server and the client SDK: each attempt of a retried item with
// its exit code, times and why it failed; none for an item still gated; 404s naming the unknown run
// or item; 403 without runs:read. Real sandboxes, real storage, real HTTP on loopback.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

test("each attempt names its signed dispatch manifest, and GET /v1/blobs/{digest} serves the manifest's exact bytes", { timeout: 60_000 }, async () => {
  const { base, composition, directory, operatorToken } = await start();
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  const { runId } = await client.submit({
    version: 1,
    name: 'manifests',
    items: [{ id: 'greet', env: { GREETING: 'hello' }, runtime: { kind: 'command', argv: ['/bin/echo', 'manifest'] } }],
  });
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (composition.engine.items(runId).find((item) => item.itemId === 'greet')?.state === 'succeeded') resolve(void clearInterval(poll));
    }, 50);
  });
  const [attempt] = await client.attempts(runId, 'greet');
  expect(attempt!.manifestDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
  const answer = await fetch(`${base}/v1/blobs/${attempt!.manifestDigest}`, { headers: { authorization: `Bearer ${operatorToken}` } });
  expect(answer.status).toBe(200);
  const bytes = new Uint8Array(await answer.arrayBuffer());
  expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(attempt!.manifestDigest);
  const envelope = JSON.parse(new TextDecoder().decode(bytes)) as { payloadType: string; payload: string; signatures: { keyid: string }[] };
  expect(envelope.payloadType).toBe('application/vnd.cairn.manifest+json');
  expect(envelope.signatures.length).toBeGreaterThan(0);
  const manifest = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as Record<string, unknown>;
  expect(manifest).toMatchObject({
    runId,
    itemId: 'greet',
    attempt: 1,
    runtime: { kind: 'command', argv: ['/bin/echo', 'manifest'] },
    env: { GREETING: 'hello' },
  });
  // The client's content-addressed read accepts it too (it checks the digest of what it got).
  expect(await client.blob(attempt!.manifestDigest)).toEqual(bytes);
  // A manifest altered where it is stored is never served as the signed one: the digest check holds
  // for manifests as for blobs (the cut download retried is answered CAIRN_DIGEST_MISMATCH).
  const altered = Buffer.from(bytes);
  altered.writeUInt8(altered.readUInt8(0) ^ 0x01, 0);
  // The dispatcher packs manifests (ADR 0025); a file under the key's own name is read first.
  mkdirSync(join(directory, 'cairn-data', 'storage', 'manifests'), { recursive: true });
  writeFileSync(join(directory, 'cairn-data', 'storage', 'manifests', `${attempt!.manifestDigest.slice('sha256:'.length)}.json`), altered);
  const refused = await client.blob(attempt!.manifestDigest).catch((caught: unknown) => caught);
  expect(isCairnError(refused, 'CAIRN_DIGEST_MISMATCH'), String(refused)).toBe(true);
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
