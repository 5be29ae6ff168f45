// Both token stores (the data directory's file and the engine's PostgreSQL database) keep the same
// promises: a token is shown once and stored hashed, authenticates until it is revoked (at once,
// through another store over the same backend too: another replica, or `cairn token`), and a
// revoke of an unknown id is CAIRN_NOT_FOUND.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { ServerPostgres } from '../../store/postgres/server-postgres.ts';
import { FileTokenStore } from './file-token-store.ts';
import { PostgresTokenStore } from './store/postgres-token-store.ts';
import { TokenAuthorizer } from './token-authorizer.ts';
import { principalOf } from './token-principal.ts';
import { newToken, type TokenStore } from './token-store.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Two stores over one backend (as two replicas, or a server and `cairn token`), and what the backend holds, as text. */
const backends: Record<string, () => Promise<{ stores: [TokenStore, TokenStore]; stored(): Promise<string> }>> = {
  file: async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-token-store-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const file = join(directory, 'tokens.json');
    const { readFileSync } = await import('node:fs');
    return { stores: [new FileTokenStore(file), new FileTokenStore(file)], stored: async () => readFileSync(file, 'utf8') };
  },
  postgres: async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const [one, other] = [await ServerPostgres.open(database.settings), await ServerPostgres.open(database.settings)];
    cleanups.push(
      () => one.close(),
      () => other.close(),
    );
    const oracle = await database.client();
    return {
      stores: [new PostgresTokenStore(one), new PostgresTokenStore(other)],
      stored: async () => JSON.stringify((await oracle.query('SELECT * FROM cairn.server_tokens')).rows),
    };
  },
};

describe.each(Object.keys(backends))('the %s token store', (kind) => {
  test('a token is stored hashed, verified by either store, refused once revoked through the other, or altered', async () => {
    const { stores, stored } = await backends[kind]!();
    const [serving, other] = stores;
    expect(await serving.hasLiveTokens()).toBe(false);
    const { token, record } = await serving.create('ci', ['runs:submit', 'runs:read', 'runs:read']);
    expect(record).toEqual({ id: expect.stringMatching(/^[0-9a-f]{12}$/), name: 'ci', scopes: ['runs:submit', 'runs:read'], createdAt: expect.any(String) });
    expect(token).toMatch(new RegExp(`^cairn_${record.id}_`));
    const text = await stored();
    expect(text).toContain(record.id);
    expect(text).not.toContain(token.slice(`cairn_${record.id}_`.length));
    expect(await other.verify(token)).toEqual(record);
    expect(await other.hasLiveTokens()).toBe(true);
    expect(await other.verify(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(await other.verify(`cairn_${'0'.repeat(12)}_${token.slice(-43)}`)).toBeUndefined();
    expect(await other.verify('not a token')).toBeUndefined();
    const revoked = await other.revoke(record.id, new Date('2026-11-23T10:00:00.000Z'));
    expect(revoked).toEqual({ ...record, revokedAt: '2026-11-23T10:00:00.000Z' });
    expect(await serving.verify(token)).toBeUndefined();
    expect(await serving.hasLiveTokens()).toBe(false);
    // A second revoke keeps the first time.
    expect((await serving.revoke(record.id, new Date('2026-11-24T00:00:00.000Z'))).revokedAt).toBe('2026-11-23T10:00:00.000Z');
    const later = await other.create('later', ['admin'], new Date(Date.now() + 1_000));
    expect(await serving.verify(later.token)).toEqual(later.record);
    expect((await serving.list()).map((listed) => [listed.name, listed.revokedAt === undefined])).toEqual([
      ['ci', false],
      ['later', true],
    ]);
    expect(JSON.stringify(await serving.list())).not.toMatch(/secretHash|secret_hash/);
  });

  test('a dashboard session is marked as one, through either store; a token only named like one is not', async () => {
    const { stores } = await backends[kind]!();
    const [serving, other] = stores;
    // Created a second apart: the list orders by creation time, and two tokens of one millisecond by random id.
    const session = await serving.create('dashboard session', ['runs:read'], new Date(Date.now() - 1_000), {
      session: true,
      expiresAt: new Date(Date.now() + 60_000),
    });
    const named = await serving.create('dashboard session', ['runs:read'], new Date());
    expect(session.record.session).toBe(true);
    expect((await other.verify(session.token))?.session).toBe(true);
    expect((await other.verify(named.token))?.session).toBeUndefined();
    expect((await other.list()).map((listed) => listed.session)).toEqual([true, undefined]);
  });

  test("a person's session keeps the person and their groups through either store, and authenticates as the person", async () => {
    const [serving, other] = (await backends[kind]!()).stores;
    const person = 'https://login.example.test#ana';
    const session = await serving.create('dashboard session', ['runs:read', 'role:approver'], new Date(), {
      session: true,
      expiresAt: new Date(Date.now() + 60_000),
      person,
      groups: ['eng', 'release managers'],
    });
    expect(await other.verify(session.token)).toMatchObject({ person, groups: ['eng', 'release managers'], scopes: ['runs:read', 'role:approver'] });
    expect(await new TokenAuthorizer(other).authenticate(session.token)).toEqual({
      actor: { kind: 'user', id: person },
      scopes: ['runs:read', 'role:approver'],
      groups: ['eng', 'release managers'],
    });
    const plain = await serving.create('ci', ['runs:read']);
    expect(await new TokenAuthorizer(other).authenticate(plain.token)).toEqual({
      actor: { kind: 'token', id: `token:${plain.record.id}` },
      scopes: ['runs:read'],
    });
    expect((await other.list()).find((listed) => listed.id === plain.record.id)).not.toHaveProperty('person');
    // A token file imported into PostgreSQL keeps both too.
    if (other instanceof PostgresTokenStore) {
      const filed = newToken('dashboard session', ['runs:read'], new Date(), {
        session: true,
        expiresAt: new Date(Date.now() + 60_000),
        person,
        groups: ['ops'],
      });
      expect(await other.import([filed.stored])).toBe(1);
      expect(await other.verify(filed.token)).toMatchObject({ person, groups: ['ops'] });
    }
  });

  test('a token keeps the principal it was made for through either store; one made without stays its own; a bad one is refused', async () => {
    const { stores, stored } = await backends[kind]!();
    const [serving, other] = stores;
    const { token, record } = await serving.create('ana-laptop', ['runs:approve', 'role:approver'], new Date(), { principal: 'ana@example.com' });
    expect(record.principal).toBe('ana@example.com');
    expect(await stored()).toContain('ana@example.com');
    expect(await other.verify(token)).toEqual(record);
    const plain = await serving.create('ci', ['runs:submit']);
    expect((await other.list()).map((listed) => [listed.id, principalOf(listed)])).toEqual([
      [record.id, 'ana@example.com'],
      [plain.record.id, `token:${plain.record.id}`],
    ]);
    await expect(serving.create('x', ['runs:read'], new Date(), { principal: 'ana smith' })).rejects.toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      path: 'principal',
    });
  });

  test('an unknown scope, a bad name and an unknown id are refused, naming what is wrong', async () => {
    const [store] = (await backends[kind]!()).stores;
    await expect(store.create('bad', ['runs:everything'])).rejects.toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      path: 'scopes',
      message: expect.stringContaining('unknown: runs:everything'),
    });
    await expect(store.create('bad', [])).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'scopes' });
    await expect(store.create('no/slashes', ['admin'])).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'name' });
    await expect(store.revoke('0123456789ab')).rejects.toMatchObject({ code: 'CAIRN_NOT_FOUND', path: 'id' });
    expect(await store.list()).toEqual([]);
  });

  test('a token past its expiry is refused, and counts as no live token', async () => {
    const [serving, other] = (await backends[kind]!()).stores;
    const now = new Date('2026-11-23T10:00:00.000Z');
    const { token, record } = await serving.create('session', ['runs:read'], now, { expiresAt: new Date('2026-11-23T22:00:00.000Z') });
    expect(record.expiresAt).toBe('2026-11-23T22:00:00.000Z');
    expect(await other.verify(token, new Date('2026-11-23T21:59:59.999Z'))).toEqual(record);
    expect(await other.verify(token, new Date('2026-11-23T22:00:00.000Z'))).toBeUndefined();
    // hasLiveTokens asks about now, long after this token's day.
    expect(await other.hasLiveTokens()).toBe(false);
    expect((await other.list()).map((listed) => listed.expiresAt)).toEqual(['2026-11-23T22:00:00.000Z']);
  });

  test('a token that expired over a week ago is dropped by the next create; one without an expiry, or expired lately, stays', async () => {
    const [serving, other] = (await backends[kind]!()).stores;
    const day = 24 * 60 * 60_000;
    const start = new Date('2026-11-01T00:00:00.000Z');
    const at = (days: number) => new Date(start.getTime() + days * day);
    await serving.create('kept', ['admin'], start);
    await serving.create('dashboard session', ['runs:read'], start, { expiresAt: at(0.5) });
    await serving.create('dashboard sign-in link', ['runs:read'], at(5), { oneTime: true, expiresAt: at(5.01) });
    // Eight days after the session ended, four after the code did: the session goes.
    await other.create('later', ['runs:read'], at(8.6));
    expect((await serving.list()).map((listed) => listed.name).sort()).toEqual(['dashboard sign-in link', 'kept', 'later']);
    await other.create('much later', ['runs:read'], at(400));
    expect((await serving.list()).map((listed) => listed.name).sort()).toEqual(['kept', 'later', 'much later']);
  });

  test('a one-time code is stored hashed, is no bearer token, and is redeemed once, through either store, before it expires', async () => {
    const { stores, stored } = await backends[kind]!();
    const [serving, other] = stores;
    const now = new Date();
    const inFive = new Date(now.getTime() + 5 * 60_000);
    const { token: code, record } = await serving.create('link', ['runs:read', 'audit:read'], now, { oneTime: true, expiresAt: inFive });
    expect(record).toMatchObject({ oneTime: true, expiresAt: inFive.toISOString() });
    expect(await stored()).not.toContain(code.slice(`cairn_${record.id}_`.length));
    // A code only signs in; it never authenticates a request, and does not count as a live token.
    expect(await other.verify(code)).toBeUndefined();
    expect(await serving.hasLiveTokens()).toBe(false);
    // A bearer token is not a code; an altered code is not the code.
    const bearer = await serving.create('ci', ['runs:read']);
    expect(await other.redeem(bearer.token)).toBeUndefined();
    expect(await other.redeem(`${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(await other.redeem('not a code')).toBeUndefined();
    // Two redeems at once, at two stores (two replicas): one gets the code.
    const redeemed = await Promise.all([serving.redeem(code, now), other.redeem(code, now)]);
    expect(redeemed.filter((answer) => answer !== undefined)).toEqual([{ ...record, revokedAt: now.toISOString() }]);
    expect(await serving.redeem(code)).toBeUndefined();
    // An expired code is refused, unused or not.
    const late = await serving.create('link', ['runs:read'], now, { oneTime: true, expiresAt: inFive });
    expect(await other.redeem(late.token, inFive)).toBeUndefined();
    expect(await other.redeem(late.token, new Date(inFive.getTime() - 1))).toMatchObject({ id: late.record.id });
  });
});
