// The quick check stands in for the client config's schema when a client command starts: wherever
// it answers, its answer must be the schema's output exactly, and it must answer for the files
// `cairn context add` and `cairn login` write (else every such command loads zod after all).
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { expect, test } from 'vitest';
import { clientConfigSchema } from './client-contexts.ts';
import { quicklyCheckedClientConfig } from './quickly-checked-client-config.ts';

const schema = await clientConfigSchema();

const answersAsTheSchema = (value: unknown): void => {
  const quick = quicklyCheckedClientConfig(value);
  if (quick === undefined) return;
  const parsed = schema.safeParse(value);
  expect(parsed.success, `the schema refuses ${JSON.stringify(value)}, the quick check accepts it`).toBe(true);
  expect(quick).toStrictEqual(parsed.data);
};

test('the files cairn writes are answered quickly, as the schema outputs them', () => {
  const written = [
    {},
    { contexts: {} },
    { current: 'here', contexts: { here: { server: 'http://127.0.0.1:7600' } } },
    {
      current: 'prod.eu-1',
      contexts: {
        'prod.eu-1': {
          server: 'https://cairn.example.com',
          token: 'eyJhbGciOi',
          login: {
            issuer: 'https://idp.example.com/realms/x',
            clientId: 'cairn-cli',
            refreshToken: 'r-1',
            expiresAt: new Date(1_796_000_000_000).toISOString(),
          },
        },
        local: { server: 'http://[::1]:7600', token: 'cairn_abc' },
      },
    },
  ];
  // As the file holds them: written by yaml's stringify, read back by its parse.
  for (const config of written.map((value) => parse(stringify(value)) as unknown)) {
    expect(quicklyCheckedClientConfig(config), JSON.stringify(config)).toBeDefined();
    answersAsTheSchema(config);
  }
});

test('what the quick check cannot vouch for is left to the schema', () => {
  const server = 'http://127.0.0.1:7600';
  for (const value of [
    null,
    [],
    'current: here',
    { current: '' },
    { current: 'here', extra: 1 },
    { contexts: { 'bad name': { server } } },
    { contexts: { here: { server: 'ftp://x' } } },
    { contexts: { here: { server: ` ${server}` } } },
    { contexts: { here: { server: `${server} ` } } },
    { contexts: { here: { server: `${server}\u00a0` } } },
    { contexts: { here: { server, login: { issuer: `${server}\r`, clientId: 'c' } } } },
    { contexts: { here: { server, token: '' } } },
    { contexts: { here: { server, colour: 'red' } } },
    { contexts: { here: { server, login: { issuer: server } } } },
    { contexts: { here: { server, login: { issuer: server, clientId: 'c', expiresAt: '2026-02-30T00:00:00.000Z' } } } },
    { contexts: { here: { server, login: { issuer: server, clientId: 'c', expiresAt: '2026-11-28T15:00:00Z' } } } },
    { contexts: null },
  ])
    expect(quicklyCheckedClientConfig(value), JSON.stringify(value)).toBeUndefined();
});

test('wherever the quick check answers, on any input, its answer is the schema output', () => {
  // Mostly right values with a wrong one now and then, so that whole files often get as far as
  // the last check (a file with any wrong value is left to the schema).
  const mostly = <Right, Wrong>(right: fc.Arbitrary<Right>, wrong: fc.Arbitrary<Wrong>): fc.Arbitrary<Right | Wrong> =>
    fc.oneof({ arbitrary: right, weight: 6 }, { arbitrary: wrong, weight: 1 });
  const other = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.boolean(), fc.constant(undefined));
  const url = mostly(
    fc.oneof(fc.webUrl(), fc.constantFrom('http://127.0.0.1:7600', 'https://[::1]/', 'HTTPS://x.y', 'http://a:99999')),
    fc.oneof(other, fc.constantFrom('http:x', ' http://a', 'http://a ', 'http://a\u00a0', 'http://a\n', 'ftp://a', 'http://', '')),
  );
  const nonEmpty = mostly(fc.string({ minLength: 1 }), other);
  const time = fc.oneof(
    fc.date({ min: new Date(-62_000_000_000_000), max: new Date(253_402_300_799_999), noInvalidDate: true }).map((date) => date.toISOString()),
    // Shaped as toISOString writes, but no real time: Date.parse reads some of them as another.
    fc
      .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }))
      .map(
        ([year, month, day, hour]) =>
          `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00.000Z`,
      ),
    fc.constantFrom('2026-11-28T15:00:00Z', '2026-11-28T15:00:00.000+01:00'),
    other,
  );
  const login = mostly(
    fc.record({ issuer: url, clientId: nonEmpty, refreshToken: nonEmpty, expiresAt: time }, { requiredKeys: ['issuer', 'clientId'] }),
    other,
  );
  const context = mostly(
    fc.record({ server: url, token: nonEmpty, login }, { requiredKeys: ['server'] }),
    fc.dictionary(fc.constantFrom('server', 'other'), other),
  );
  const name = mostly(
    fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/),
    fc.oneof(fc.string(), fc.constantFrom('_x', '-x', 'a b', '__proto__', 'x'.repeat(64))),
  );
  const config = mostly(fc.record({ current: nonEmpty, contexts: mostly(fc.dictionary(name, context, { maxKeys: 3 }), other) }, { requiredKeys: [] }), other);
  let answered = 0;
  fc.assert(
    fc.property(config, (value) => {
      if (quicklyCheckedClientConfig(value) !== undefined) answered++;
      answersAsTheSchema(value);
    }),
    { numRuns: 5_000 },
  );
  // The property means something only if the quick check answers often: about a tenth of these
  // files (469–563 in three runs); fewer than 200 means the generator no longer gets that far.
  expect(answered).toBeGreaterThan(200);
});
