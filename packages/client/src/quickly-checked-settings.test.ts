// The quick check stands in for cairnClientSettingsSchema on the `cairn` CLI's start: wherever it
// answers, its answer must be the schema's output exactly, and it must answer for the settings the
// CLI passes (else the CLI loads zod after all).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { isCairnError } from '@cairn/protocol/errors';
import { cairnClientSettingsSchema, type CairnClientSettings } from './cairn-client-settings.ts';
import { createCairnClient } from './cairn-client.ts';
import { openCairnClient } from './open-cairn-client.ts';
import { quicklyCheckedSettings } from './quickly-checked-settings.ts';

const answersAsTheSchema = (settings: unknown): void => {
  const quick = quicklyCheckedSettings(settings as CairnClientSettings);
  if (quick === undefined) return;
  const schema = cairnClientSettingsSchema.safeParse(settings);
  expect(schema.success, `the schema refuses ${JSON.stringify(settings)}, the quick check accepts it`).toBe(true);
  expect(quick).toStrictEqual(schema.data);
};

test('the settings the CLI passes are answered quickly, as the schema outputs them', () => {
  for (const settings of [
    { baseUrl: 'http://127.0.0.1:7600' },
    { baseUrl: 'https://cairn.example.com/', token: 'c_abc' },
    { baseUrl: 'http://[::1]:7600', token: 'c_abc' },
    { baseUrl: 'HTTP://Example.COM:80/base', reconnectDelayMs: 0, reconnectAttempts: 1_000 },
    { baseUrl: 'http://127.0.0.1:1', token: undefined, reconnectDelayMs: undefined },
  ]) {
    expect(quicklyCheckedSettings(settings), JSON.stringify(settings)).toBeDefined();
    answersAsTheSchema(settings);
  }
});

test('what the quick check cannot vouch for is left to the schema', () => {
  for (const settings of [
    { baseUrl: 'ftp://example.com' },
    { baseUrl: 'http:example.com' },
    { baseUrl: ' http://127.0.0.1:7600' },
    { baseUrl: 'http://127.0.0.1:7600\n' },
    { baseUrl: 'http://exa\tmple.com' },
    { baseUrl: 'http://' },
    { baseUrl: 'http://127.0.0.1', token: '' },
    { baseUrl: 'http://127.0.0.1', reconnectDelayMs: 60_001 },
    { baseUrl: 'http://127.0.0.1', reconnectAttempts: 1.5 },
    { baseUrl: 'http://127.0.0.1', reconnectAttempts: -1 },
    { baseUrl: 'http://127.0.0.1', reconnectAttempts: '3' },
    { baseUrl: 'http://127.0.0.1', retries: 3 },
    Object.assign(Object.create(null) as object, { baseUrl: 'http://127.0.0.1' }),
    ['http://127.0.0.1'],
    'http://127.0.0.1',
    null,
    undefined,
  ])
    expect(quicklyCheckedSettings(settings as CairnClientSettings), JSON.stringify(settings)).toBeUndefined();
});

test('wherever the quick check answers, on any input, its answer is the schema output', () => {
  const text = fc.oneof(
    fc.string(),
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc.constantFrom('http://127.0.0.1:7600', 'https://[::1]/', 'HTTPS://x.y', 'http://a b', 'http://%zz', 'http://a:99999'),
    fc
      .tuple(fc.constantFrom('', ' ', '\t', '\n', '\u00a0', 'http://', 'https://', 'ftp://'), fc.string(), fc.constantFrom('', ' ', '\r', '/'))
      .map((parts) => parts.join('')),
  );
  const number = fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.double(), fc.constantFrom(0, 1_000, 1_001, 60_000, 60_001, Number.MAX_SAFE_INTEGER + 2));
  const value = fc.oneof(text, number, fc.constant(undefined), fc.constant(null), fc.boolean());
  const settings = fc.oneof(
    fc.record(
      {
        baseUrl: fc.oneof(text, value),
        token: fc.oneof(fc.string(), value),
        reconnectDelayMs: fc.oneof(number, value),
        reconnectAttempts: fc.oneof(number, value),
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.constantFrom('baseUrl', 'token', 'reconnectDelayMs', 'other', '__proto__'), value),
    value,
  );
  fc.assert(fc.property(settings, answersAsTheSchema), { numRuns: 5_000 });
});

test('openCairnClient refuses what createCairnClient refuses, with the same error', async () => {
  for (const settings of [{ baseUrl: 'ftp://example.com' }, { baseUrl: 'http://127.0.0.1', token: '' }, { baseUrl: 'http://127.0.0.1', retries: 3 }]) {
    let thrown: unknown;
    try {
      createCairnClient(settings as CairnClientSettings);
    } catch (error) {
      thrown = error;
    }
    expect(isCairnError(thrown, 'CAIRN_CONFIG_INVALID'), JSON.stringify(settings)).toBe(true);
    const rejected = await openCairnClient(settings as CairnClientSettings).catch((error: unknown) => error);
    expect(rejected).toStrictEqual(thrown);
    expect((rejected as Error).message).toBe((thrown as Error).message);
  }
});

test('openCairnClient accepts what the schema accepts though the quick check leaves it, with the schema output', async () => {
  const seen: string[] = [];
  const server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'CAIRN_NOT_FOUND', message: 'No run r-1.' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    // A URL with spaces around it: the schema trims them, the quick check does not try.
    const settings = { baseUrl: ` http://127.0.0.1:${(server.address() as AddressInfo).port} ` };
    expect(quicklyCheckedSettings(settings)).toBeUndefined();
    const client = await openCairnClient(settings);
    const error = await client.run('r-1').catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_NOT_FOUND')).toBe(true);
    expect(seen).toEqual(['GET /v1/runs/r-1']);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
