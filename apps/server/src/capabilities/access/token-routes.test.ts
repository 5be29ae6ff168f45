// Tokens over HTTP, through the typed client: an admin makes, lists and revokes them; the secret
// is shown once and is nowhere else — not in the list, the token file or the audit log.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { runningServers } from '../../http/running-server.test-support.ts';

const serve = runningServers();

test('an admin makes, lists and revokes tokens; the secret is shown once and audited nowhere', { timeout: 60_000 }, async () => {
  const { base, operatorToken, composition, directory } = await serve();
  const admin = createCairnClient({ baseUrl: base, token: operatorToken });
  const { token, record } = await admin.createToken('ci reader', ['runs:read']);
  expect(token).toMatch(/^cairn_[0-9a-f]{12}_/);
  expect(record).toMatchObject({ name: 'ci reader', scopes: ['runs:read'] });

  const reader = createCairnClient({ baseUrl: base, token });
  await expect(reader.run('r-missing')).rejects.toMatchObject({ code: 'CAIRN_NOT_FOUND' });
  // A reader cannot make itself an admin.
  await expect(reader.createToken('escalate', ['admin'])).rejects.toMatchObject({ code: 'CAIRN_FORBIDDEN' });

  const listed = await admin.tokens();
  expect(listed.map((entry) => entry.name).sort()).toEqual(['ci reader', 'operator']);
  expect(JSON.stringify(listed)).not.toMatch(/secretHash|cairn_/);

  expect(await admin.revokeToken(record.id)).toMatchObject({ id: record.id, revokedAt: expect.any(String) });
  await expect(reader.run('r-missing')).rejects.toMatchObject({ code: 'CAIRN_UNAUTHENTICATED' });

  // cairn_<id>_<secret>: the secret is base64url, so it may hold '_' itself.
  const secret = /^cairn_[0-9a-f]{12}_(.+)$/.exec(token)![1]!;
  const entries = [...composition.engine.audit.entries()].filter((entry) => entry.action.startsWith('token.'));
  expect(entries.map((entry) => [entry.action, entry.entity.id, entry.actor.id])).toEqual([
    ['token.created', `token:${record.id}`, expect.stringMatching(/^token:[0-9a-f]{12}$/)],
    ['token.revoked', `token:${record.id}`, expect.stringMatching(/^token:[0-9a-f]{12}$/)],
  ]);
  expect(JSON.stringify([...composition.engine.audit.entries()])).not.toContain(secret);
  expect(readFileSync(join(directory, 'cairn-data', 'keys', 'tokens.json'), 'utf8')).not.toContain(secret);
});

test('bad token requests name the field, and a missing token is 404', { timeout: 60_000 }, async () => {
  const { base, operatorToken } = await serve();
  const admin = createCairnClient({ baseUrl: base, token: operatorToken });
  await expect(admin.createToken('x', ['runs:everything'])).rejects.toMatchObject({
    code: 'CAIRN_PAYLOAD_INVALID',
    path: expect.stringMatching(/^body\.scopes/),
  });
  await expect(admin.createToken('x', [])).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: expect.stringMatching(/^body\.scopes/) });
  await expect(admin.createToken('a/b', ['runs:read'])).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'body.name' });
  await expect(admin.revokeToken('0123456789ab')).rejects.toMatchObject({ code: 'CAIRN_NOT_FOUND' });
  await expect(admin.revokeToken('nope')).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'params.tokenId' });
});
