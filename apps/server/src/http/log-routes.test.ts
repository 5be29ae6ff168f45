// Item logs through a real server: live while the item runs (a follower sees the first line long
// before the item ends), redacted exactly like the stored logs, per attempt, with 404s naming what
// is unknown and 403 without runs:read. Real sandboxes, real storage, real HTTP on loopback.
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();

type Line = { stream: 'stdout' | 'stderr'; text: string } | { end: { attempt: number; state: string; exitCode: number | null } } | { error: { code: string } };

/** Reads an NDJSON answer line by line, calling `onLine` as each arrives. */
async function readLines(response: Response, onLine: (line: Line) => void = () => {}): Promise<Line[]> {
  const lines: Line[] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) !== -1) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (text === '') continue;
      const line = JSON.parse(text) as Line;
      lines.push(line);
      onLine(line);
    }
  }
  return lines;
}

const output = (lines: Line[], stream: 'stdout' | 'stderr') =>
  lines.flatMap((line) => ('stream' in line && line.stream === stream ? [line.text] : [])).join('');

async function submit(api: (path: string, init?: RequestInit) => Promise<Response>, spec: object): Promise<string> {
  const response = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  expect(response.status, await response.clone().text()).toBe(201);
  return ((await response.json()) as { runId: string }).runId;
}

test(
  'a follower sees the first line while the item still runs, a secret redacted in the live stream, then the rest and how the attempt ended',
  { timeout: 60_000 },
  async () => {
    const { api, composition } = await start();
    const secret = 'sk-live-follow-7a2b9c';
    await composition.engine.setSecret('API_KEY', secret, { kind: 'user', id: 'admin', via: 'cli' });
    const runId = await submit(api, {
      version: 1,
      name: 'slow-printer',
      items: [
        {
          id: 'print',
          secrets: ['API_KEY'],
          runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo first; sleep 2; echo "key=$API_KEY"; sleep 2; echo oops >&2; echo last; exit 3'] },
        },
      ],
    });
    // Asked for at once: the item has no attempt yet, and follow waits for it.
    const response = await api(`/v1/runs/${runId}/items/print/logs?follow=true`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    expect(response.headers.get('x-cairn-attempt')).toBe('1');
    const stateWhen: Record<string, string | undefined> = {};
    const lines = await readLines(response, (line) => {
      if ('stream' in line) for (const word of ['first', 'key=']) if (line.text.includes(word)) stateWhen[word] ??= composition.engine.items(runId)[0]?.state;
    });
    expect(stateWhen['first']).toBe('running');
    expect(stateWhen['key=']).toBe('running');
    expect(output(lines, 'stdout')).toBe('first\nkey=[redacted:API_KEY]\nlast\n');
    expect(output(lines, 'stderr')).toBe('oops\n');
    expect(JSON.stringify(lines)).not.toContain(secret);
    expect(lines.at(-1)).toEqual({
      end: {
        attempt: 1,
        state: 'failed',
        exitCode: 3,
        finishedAt: expect.any(String),
        failure: expect.objectContaining({ code: 'CAIRN_EXIT_NONZERO', exitCode: 3, stderrTail: 'oops\n' }),
      },
    });

    // After the end: the same output from the stored logs; as text, the output alone.
    const after = await readLines(await api(`/v1/runs/${runId}/items/print/logs`));
    expect(output(after, 'stdout')).toBe('first\nkey=[redacted:API_KEY]\nlast\n');
    expect(after.at(-1)).toMatchObject({ end: { state: 'failed', exitCode: 3 } });
    const text = await api(`/v1/runs/${runId}/items/print/logs?format=text`);
    expect(text.headers.get('content-type')).toContain('text/plain');
    expect(await text.text()).toBe('first\nkey=[redacted:API_KEY]\nlast\noops\n');
  },
);

test('without follow, a running attempt answers what it printed so far and no end line', { timeout: 60_000 }, async () => {
  const { api, composition } = await start();
  const runId = await submit(api, {
    version: 1,
    name: 'sleeper',
    items: [{ id: 'nap', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo before; sleep 3; echo after'] } }],
  });
  let lines: Line[] = [];
  for (let tries = 0; tries < 40 && output(lines, 'stdout') === ''; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const response = await api(`/v1/runs/${runId}/items/nap/logs`);
    if (response.status === 200) lines = await readLines(response);
  }
  expect(composition.engine.items(runId)[0]?.state).toBe('running');
  expect(lines).toEqual([{ stream: 'stdout', text: 'before\n' }]);
  await composition.engine.waitForRun(runId);
});

test('?attempt=N selects an earlier attempt of a retried item; the latest is the default', { timeout: 60_000 }, async () => {
  const { api, composition } = await start();
  const runId = await submit(api, {
    version: 1,
    name: 'flaky',
    items: [
      {
        id: 'flaky',
        retry: { maxAttempts: 2, backoff: { initial: '100ms', max: '100ms' } },
        runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo "token $(head -c 8 /dev/urandom | od -An -tx1 | tr -d " \\n")"; exit 1'] },
      },
    ],
  });
  await composition.engine.waitForRun(runId);
  const first = await readLines(await api(`/v1/runs/${runId}/items/flaky/logs?attempt=1`));
  const second = await readLines(await api(`/v1/runs/${runId}/items/flaky/logs?attempt=2`));
  const latest = await api(`/v1/runs/${runId}/items/flaky/logs`);
  expect(latest.headers.get('x-cairn-attempt')).toBe('2');
  expect(output(first, 'stdout')).toMatch(/^token [0-9a-f]{16}\n$/);
  expect(output(second, 'stdout')).toMatch(/^token [0-9a-f]{16}\n$/);
  expect(output(first, 'stdout')).not.toBe(output(second, 'stdout'));
  expect(first.at(-1)).toMatchObject({ end: { attempt: 1, state: 'failed', exitCode: 1 } });
  expect(output(await readLines(latest), 'stdout')).toBe(output(second, 'stdout'));
  // Each equals what the engine recorded as that attempt's stored stdout.
  const [one, two] = composition.engine.attempts(runId, 'flaky');
  expect(Buffer.from((await composition.storage.get(`blobs/${one!.artifacts!['stdout']!.slice(7)}`))!).toString()).toBe(output(first, 'stdout'));
  expect(two!.attempt).toBe(2);
});

test('an unknown run, item or attempt is a 404 naming it; a token without runs:read gets 403', { timeout: 60_000 }, async () => {
  const { api, base, composition } = await start();
  const runId = await submit(api, {
    version: 1,
    name: 'one',
    items: [
      { id: 'one', runtime: { kind: 'command', argv: ['/bin/true'] } },
      { id: 'gated', approval: 'required', dependsOn: ['one'], runtime: { kind: 'command', argv: ['/bin/true'] } },
    ],
  });
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (composition.engine.items(runId).find((item) => item.itemId === 'one')?.state === 'succeeded') resolve(void clearInterval(poll));
    }, 50);
  });
  const refusal = async (path: string) => {
    const response = await api(path);
    return { status: response.status, body: (await response.json()) as { code: string; message: string; path?: string } };
  };
  expect(await refusal('/v1/runs/r-nope/items/one/logs')).toMatchObject({
    status: 404,
    body: { code: 'CAIRN_NOT_FOUND', path: 'runId', message: expect.stringContaining('r-nope') },
  });
  expect(await refusal(`/v1/runs/${runId}/items/nope/logs`)).toMatchObject({
    status: 404,
    body: { code: 'CAIRN_NOT_FOUND', path: 'itemId', message: expect.stringContaining('"nope"') },
  });
  expect(await refusal(`/v1/runs/${runId}/items/one/logs?attempt=7`)).toMatchObject({
    status: 404,
    body: { code: 'CAIRN_NOT_FOUND', path: 'attempt', message: expect.stringContaining('no attempt 7') },
  });
  expect(await refusal(`/v1/runs/${runId}/items/gated/logs`)).toMatchObject({
    status: 404,
    body: { code: 'CAIRN_NOT_FOUND', path: 'itemId', message: expect.stringContaining('awaiting-approval') },
  });
  expect(await refusal(`/v1/runs/${runId}/items/one/logs?attempt=0`)).toMatchObject({
    status: 400,
    body: { code: 'CAIRN_PAYLOAD_INVALID', path: 'query.attempt' },
  });

  const { token } = await composition.tokens.create('submitter', ['runs:submit']);
  const forbidden = await fetch(`${base}/v1/runs/${runId}/items/one/logs`, { headers: { authorization: `Bearer ${token}` } });
  expect(forbidden.status).toBe(403);
  expect(await forbidden.json()).toMatchObject({ code: 'CAIRN_FORBIDDEN' });
  const { token: reader } = await composition.tokens.create('reader', ['runs:read']);
  const allowed = await fetch(`${base}/v1/runs/${runId}/items/one/logs`, { headers: { authorization: `Bearer ${reader}` } });
  expect(allowed.status).toBe(200);
  expect((await readLines(allowed)).at(-1)).toMatchObject({ end: { attempt: 1, state: 'succeeded', exitCode: 0 } });
});

test('a follower whose token is revoked is cut off within seconds, while the item still runs silently', { timeout: 60_000 }, async () => {
  const { api, base, composition } = await start();
  const runId = await submit(api, {
    version: 1,
    name: 'quiet',
    items: [{ id: 'quiet', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hello; sleep 20'] } }],
  });
  const created = await composition.tokens.create('follower', ['runs:read']);
  const response = await fetch(`${base}/v1/runs/${runId}/items/quiet/logs?follow=true`, { headers: { authorization: `Bearer ${created.token}` } });
  expect(response.status).toBe(200);
  let revokedAt = 0;
  const lines = await readLines(response, (line) => {
    if ('stream' in line && line.text.includes('hello')) {
      void composition.tokens.revoke(created.record.id);
      revokedAt = Date.now();
    }
  }).catch(() => 'cut' as const);
  expect(revokedAt).toBeGreaterThan(0);
  expect(Date.now() - revokedAt).toBeLessThan(5_000);
  expect(composition.engine.items(runId)[0]?.state).toBe('running');
  if (lines !== 'cut') expect(lines.some((line) => 'end' in line)).toBe(false);
  composition.engine.cancelRun(runId, { kind: 'user', id: 'operator', via: 'cli' });
  await composition.engine.waitForRun(runId);
});
