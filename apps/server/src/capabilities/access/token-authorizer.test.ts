import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeAuthorizer } from '@cairn/conformance';
import { afterAll, expect, test } from 'vitest';
import { TokenAuthorizer } from './token-authorizer.ts';
import { FileTokenStore } from './file-token-store.ts';

const directory = mkdtempSync(join(tmpdir(), 'cairn-tokens-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
const store = new FileTokenStore(join(directory, 'tokens.json'));
const { token, record } = await store.create('ci', ['runs:submit', 'runs:read']);

describeAuthorizer({
  name: 'server bearer tokens',
  create: () => new TokenAuthorizer(store),
  fixture: {
    credential: token,
    actor: { kind: 'token', id: `token:${record.id}` },
    allowed: [
      { action: 'runs.submit', resource: { kind: 'run', id: 'new' } },
      { action: 'runs.read', resource: { kind: 'run', id: 'r1' } },
    ],
    denied: [
      { action: 'items.approve', resource: { kind: 'item', id: 'r1/a' } },
      { action: 'tokens.manage', resource: { kind: 'server', id: 'server' } },
    ],
  },
});

test('tokens are stored hashed in a 0600 file, shown once, refused once revoked or altered', async () => {
  const file = join(directory, 'tokens.json');
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(readFileSync(file, 'utf8')).not.toContain(token.slice(`cairn_${record.id}_`.length));
  const authorizer = new TokenAuthorizer(store);
  expect(await authorizer.authenticate(token)).toMatchObject({ scopes: ['runs:submit', 'runs:read'] });
  expect(await authorizer.authenticate(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeNull();
  expect(await authorizer.authenticate('not a token')).toBeNull();
  const other = await store.create('other', ['admin']);
  await store.revoke(other.record.id);
  expect(await authorizer.authenticate(other.token)).toBeNull();
  await expect(store.create('bad', ['runs:everything'])).rejects.toThrow(/unknown: runs:everything/);
  expect((await store.list()).map((listed) => [listed.name, listed.revokedAt === undefined])).toEqual([
    ['ci', true],
    ['other', false],
  ]);
  expect(JSON.stringify(await store.list())).not.toContain('secretHash');
});

test('a token revoked through another store of the same file (cairn token revoke) is refused at the next request', async () => {
  const file = join(directory, 'shared-tokens.json');
  const serving = new FileTokenStore(file);
  const { token: shared, record: sharedRecord } = await serving.create('shared', ['runs:read']);
  const authorizer = new TokenAuthorizer(serving);
  // Twice, so the serving store has the file as it was at hand when the other one changes it.
  expect(await authorizer.authenticate(shared)).not.toBeNull();
  expect(await authorizer.authenticate(shared)).not.toBeNull();
  await new FileTokenStore(file).revoke(sharedRecord.id);
  expect(await authorizer.authenticate(shared)).toBeNull();
  // A token created elsewhere is accepted at once too.
  const created = await new FileTokenStore(file).create('later', ['runs:read']);
  expect(await authorizer.authenticate(created.token)).toMatchObject({ scopes: ['runs:read'] });
  rmSync(file);
  expect(await authorizer.authenticate(created.token)).toBeNull();
});

test.each([
  ['not JSON', '{"tokens": [', /is not JSON/],
  [
    'a token without its hash',
    '{"tokens":[{"id":"0123456789ab","name":"x","scopes":["admin"],"createdAt":"2026-01-01T00:00:00Z"}]}',
    /\$\.tokens\.0\.secretHash/,
  ],
  [
    'an unknown scope',
    '{"tokens":[{"id":"0123456789ab","name":"x","scopes":["root"],"secretHash":"' + '0'.repeat(64) + '","createdAt":"2026-01-01T00:00:00Z"}]}',
    /is not a token scope/,
  ],
])('a token file that is %s fails closed, naming the file and what to do', async (_, text, problem) => {
  const file = join(directory, `broken-${Math.random()}.json`);
  writeFileSync(file, text);
  const broken = new FileTokenStore(file);
  const refusal = { code: 'CAIRN_CONFIG_INVALID', path: file, message: expect.stringMatching(problem) };
  await expect(broken.hasLiveTokens()).rejects.toMatchObject(refusal);
  await expect(new TokenAuthorizer(broken).authenticate(`cairn_0123456789ab_${'A'.repeat(43)}`)).rejects.toMatchObject(refusal);
  await expect(broken.create('new', ['admin'])).rejects.toMatchObject({ code: 'CAIRN_CONFIG_INVALID' });
  expect(readFileSync(file, 'utf8')).toBe(text);
});
