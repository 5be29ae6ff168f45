import { createHash } from 'node:crypto';
import { isCairnError } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { createRunnerStorageProvider } from './runner-storage-provider.ts';

// The client against the real routes, under the storage suite, is tested in the server
// (apps/server/src/capabilities/runners/runner-storage-routes.test.ts); these are what a scripted
// fetch shows better: what is sent, and how answers are read.

interface Sent {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
}

/** A fetch answering from `answers` in turn, recording what was sent. */
function scriptedFetch(answers: (() => Response | Promise<Response>)[]): { fetch: typeof fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetch = (async (input: URL | string, init?: RequestInit) => {
    sent.push({ method: init?.method ?? 'GET', url: String(input), headers: { ...(init?.headers as Record<string, string>) } });
    const answer = answers.shift();
    if (answer === undefined) throw new Error('no answer scripted');
    return answer();
  }) as typeof globalThis.fetch;
  return { fetch, sent };
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

async function rejection(operation: Promise<unknown>): Promise<unknown> {
  return operation.then(
    () => {
      throw new Error('resolved, expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('createRunnerStorageProvider', () => {
  test('settings are checked at construction, naming runner.storage.<option>', () => {
    expect(() => createRunnerStorageProvider({ baseUrl: 'ftp://server', token: 'x' })).toThrow(/runner\.storage\.baseUrl/);
    expect(() => createRunnerStorageProvider({ baseUrl: 'https://server', token: '' })).toThrow(/runner\.storage\.token/);
    expect(() => createRunnerStorageProvider({ baseUrl: 'https://server', token: 'x', maxAttempts: 0 })).toThrow(/runner\.storage\.maxAttempts/);
  });

  test('each key segment is a path segment, percent-encoded, under a base URL with a path; the token goes as a bearer', async () => {
    const { fetch, sent } = scriptedFetch([() => new Response(null, { status: 404 })]);
    const storage = createRunnerStorageProvider({ baseUrl: 'https://cairn.example/base', token: 'runner-token', fetch });
    expect(await storage.get('results/run 1/item?/1#.json')).toBeNull();
    expect(sent[0]).toMatchObject({ method: 'GET', url: 'https://cairn.example/base/v1/runner/storage/results/run%201/item%3F/1%23.json' });
    expect(sent[0]!.headers['authorization']).toBe('Bearer runner-token');
  });

  test('a bad key or bytes that do not hash to a content-addressed key are refused before any request', async () => {
    const { fetch, sent } = scriptedFetch([]);
    const storage = createRunnerStorageProvider({ baseUrl: 'https://cairn.example', token: 'runner-token', fetch });
    expect(await rejection(storage.get('results/../blobs/x'))).toMatchObject({ code: 'CAIRN_STORAGE_KEY_INVALID' });
    expect(await rejection(storage.delete('/absolute'))).toMatchObject({ code: 'CAIRN_STORAGE_KEY_INVALID' });
    const claimed = createHash('sha256').update('named bytes').digest('hex');
    expect(await rejection(storage.put(`blobs/${claimed}`, new TextEncoder().encode('other bytes')))).toMatchObject({ code: 'CAIRN_DIGEST_MISMATCH' });
    expect(sent).toEqual([]);
  });

  test('a 503 is retried and an if-absent put sends if-none-match: *', async () => {
    const { fetch, sent } = scriptedFetch([
      () => json(503, { code: 'CAIRN_STORAGE_UNAVAILABLE', message: 'the disk is busy', action: 'wait' }),
      () => json(200, { written: true }),
    ]);
    const storage = createRunnerStorageProvider({ baseUrl: 'https://cairn.example', token: 'runner-token', fetch });
    expect(await storage.put('live-logs/run/item/1/state.json', new Uint8Array([1]), { ifAbsent: true, contentType: 'application/json' })).toEqual({
      written: true,
    });
    expect(sent).toHaveLength(2);
    expect(sent[1]!.headers).toMatchObject({ 'if-none-match': '*', 'x-cairn-content-type': 'application/json', 'content-type': 'application/octet-stream' });
  });

  test("a refusal keeps the server's code and reason; a failure that lasts is CAIRN_STORAGE_UNAVAILABLE with what the server said, never the token", async () => {
    const forbidden = scriptedFetch([
      () =>
        json(403, {
          code: 'CAIRN_FORBIDDEN',
          message: 'Runner "a" may not read "results/x.json": this runner holds no lease on x.',
          path: 'results/x.json',
          action: 'hold it',
        }),
    ]);
    const refused = await rejection(
      createRunnerStorageProvider({ baseUrl: 'https://cairn.example', token: 'runner-token', fetch: forbidden.fetch }).get('results/x.json'),
    );
    expect(isCairnError(refused, 'CAIRN_FORBIDDEN')).toBe(true);
    expect((refused as Error).message).toMatch(/holds no lease on x/);
    const full = scriptedFetch([
      () => json(503, { code: 'CAIRN_STORAGE_UNAVAILABLE', message: 'ENOSPC: no space left on device', action: 'free space' }),
      () => json(503, { code: 'CAIRN_STORAGE_UNAVAILABLE', message: 'ENOSPC: no space left on device', action: 'free space' }),
    ]);
    const storage = createRunnerStorageProvider({
      baseUrl: 'https://cairn.example',
      token: 'runner-token',
      fetch: full.fetch,
      maxAttempts: 2,
      outageBudgetMs: 0,
    });
    const failure = await rejection(storage.put('live-logs/r/i/1/state.json', new Uint8Array([1])));
    expect(failure).toMatchObject({ code: 'CAIRN_STORAGE_UNAVAILABLE', message: expect.stringMatching(/no space left on device/) });
    expect((failure as Error).message).not.toContain('runner-token');
    // A HEAD's refusal has no body: its status names it.
    const head = scriptedFetch([() => new Response(null, { status: 403 })]);
    const headRefused = await rejection(
      createRunnerStorageProvider({ baseUrl: 'https://cairn.example', token: 't', fetch: head.fetch }).head('results/x.json'),
    );
    expect(headRefused).toMatchObject({ code: 'CAIRN_FORBIDDEN', message: expect.stringMatching(/a get of the key says why/) });
  });

  test('a streamed body cut short of its length fails before its last chunk', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([1, 2]));
        controller.enqueue(new Uint8Array([3]));
        controller.close();
      },
    });
    const { fetch } = scriptedFetch([() => new Response(body, { status: 200, headers: { 'content-length': '10' } })]);
    const storage = createRunnerStorageProvider({ baseUrl: 'https://cairn.example', token: 't', fetch });
    const received: number[] = [];
    const failure = await rejection(
      (async () => {
        for await (const chunk of (await storage.getStream('live-logs/r/i/1/stdout/000000'))!) received.push(...chunk);
      })(),
    );
    expect(failure).toMatchObject({ code: 'CAIRN_STORAGE_UNAVAILABLE', message: expect.stringMatching(/ended after 3 of 10 bytes/) });
    expect(received, 'only the chunks before the last').toEqual([1, 2]);
  });
});
