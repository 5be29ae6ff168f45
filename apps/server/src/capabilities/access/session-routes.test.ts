// GET /v1/session: who a credential acts as and which actions it may take, answered by the
// authorizer for each action, with nothing audited as denied (a client asks instead of trying).
// POST /v1/session/redeem: a one-time sign-in code (`cairn dashboard`) exchanged, once, for a
// session token. DELETE /v1/session: signing out revokes that session token, and nothing else.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { runCli } from '../../cli/run-cli.test-support.ts';
import { runningServers } from '../../http/running-server.test-support.ts';

const start = runningServers();

test('a token learns which actions its scopes allow; asking audits no denial', async () => {
  const { api, base, composition } = await start('tokens');
  const make = async (scopes: string[]) => {
    const created = await api('/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'probe', scopes }),
    });
    return ((await created.json()) as { token: string; record: { id: string } }).token;
  };
  const session = async (token: string) => {
    const answer = await fetch(`${base}/v1/session`, { headers: { authorization: `Bearer ${token}` } });
    return { status: answer.status, body: (await answer.json()) as { actor: { kind: string; id: string }; auth: string; actions: string[] } };
  };
  const viewer = await session(await make(['runs:read']));
  expect(viewer).toMatchObject({ status: 200, body: { auth: 'tokens', actions: [] } });
  expect(viewer.body.actor.id).toMatch(/^token:[0-9a-f]{12}$/);
  const reviewer = await session(await make(['runs:read', 'runs:approve', 'audit:read']));
  expect(reviewer.body.actions).toEqual(['items.approve', 'items.reject', 'audit.read']);
  const operator = await session(await make(['admin']));
  expect(operator.body.actions).toEqual([
    'runs.submit',
    'runs.cancel',
    'runs.budget',
    'items.approve',
    'items.reject',
    'items.cancel',
    'audit.read',
    'tokens.manage',
    'schedules.manage',
    'runners.manage',
  ]);
  // Without runs:read it may not ask (the dashboard needs runs:read anyway); without a token, 401.
  expect((await session(await make(['audit:read']))).status).toBe(403);
  expect((await fetch(`${base}/v1/session`)).status).toBe(401);
  const denials = [...composition.engine.audit.entries()].filter((entry) => entry.action === 'access.denied');
  expect(denials.map((entry) => entry.data['action'])).toEqual(['session.read']);
});

test('on a loopback-operator server the operator may take every action', async () => {
  const { api } = await start('loopback-operator');
  const answer = await api('/v1/session');
  expect(await answer.json()).toEqual({
    actor: { kind: 'user', id: 'operator' },
    auth: 'loopback-operator',
    actions: [
      'runs.submit',
      'runs.cancel',
      'runs.budget',
      'items.approve',
      'items.reject',
      'items.cancel',
      'audit.read',
      'tokens.manage',
      'schedules.manage',
      'runners.manage',
    ],
  });
});

const redeem = (base: string, code: string) =>
  fetch(`${base}/v1/session/redeem`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });

test('the code of `cairn dashboard` is stored hashed and redeemed once for a 12-hour session token with its scopes, audited; a second redeem is refused', async () => {
  const { base, directory, composition, configFile } = await start('tokens');
  const printed = await runCli(['--json', '--config', configFile, 'dashboard', '--server', `${base}/`, '--scope', 'runs:read', 'audit:read']);
  expect(printed.stderr).toBe('');
  expect(printed.status).toBe(0);
  const { url, expiresAt } = JSON.parse(printed.stdout) as { url: string; expiresAt: string };
  const code = new RegExp(`^${base}/dashboard/#signin=(cairn_[0-9a-f]{12}_[A-Za-z0-9_-]{43})$`).exec(url)![1]!;
  const codeId = code.slice('cairn_'.length, 'cairn_'.length + 12);
  expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(4 * 60_000);
  expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(5 * 60_000);
  // Only the code's hash is kept.
  const tokenFile = readFileSync(join(directory, 'cairn-data', 'keys', 'tokens.json'), 'utf8');
  expect(tokenFile).toContain(codeId);
  expect(tokenFile).not.toContain(code.slice(-43));
  // The code is no bearer token.
  expect((await fetch(`${base}/v1/session`, { headers: { authorization: `Bearer ${code}` } })).status).toBe(401);

  const answer = await redeem(base, code);
  expect(answer.status).toBe(200);
  const session = (await answer.json()) as { token: string; expiresAt: string; scopes: string[] };
  expect(session.scopes).toEqual(['runs:read', 'audit:read']);
  expect(session.token).not.toBe(code);
  expect(Math.abs(Date.parse(session.expiresAt) - Date.now() - 12 * 60 * 60_000)).toBeLessThan(60_000);
  const asked = await fetch(`${base}/v1/session`, { headers: { authorization: `Bearer ${session.token}` } });
  expect(((await asked.json()) as { actions: string[] }).actions).toEqual(['audit.read']);

  const again = await redeem(base, code);
  expect(again.status).toBe(401);
  expect(await again.json()).toMatchObject({ code: 'CAIRN_UNAUTHENTICATED', path: 'code', message: expect.stringContaining('cairn dashboard') });
  const created = [...composition.engine.audit.entries()].filter((entry) => entry.action === 'token.created');
  expect(created.map((entry) => [entry.actor.id, entry.data['name'], entry.data['scopes']])).toEqual([
    [`token:${codeId}`, 'dashboard session', ['runs:read', 'audit:read']],
  ]);
  expect(JSON.stringify([...composition.engine.audit.entries()])).not.toContain(code.slice(-43));
  expect(JSON.stringify([...composition.engine.audit.entries()])).not.toContain(session.token.slice(-43));
});

test('DELETE /v1/session revokes a dashboard session token (audited), and leaves any other credential valid', async () => {
  const { base, api, composition, operatorToken } = await start('tokens');
  const link = (await (await api('/v1/session/links', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()) as {
    code: string;
  };
  const session = ((await (await redeem(base, link.code)).json()) as { token: string }).token;
  const end = (token: string) => fetch(`${base}/v1/session`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  const probe = async (token: string) => (await fetch(`${base}/v1/session`, { headers: { authorization: `Bearer ${token}` } })).status;

  // Tokens made by hand, the operator's: the user's to keep, even one named as sessions are.
  const made = async (name: string) =>
    (
      (await (
        await api('/v1/tokens', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, scopes: ['runs:read'] }),
        })
      ).json()) as { token: string }
    ).token;
  const viewer = await made('viewer');
  const namedLikeASession = await made('dashboard session');
  for (const token of [viewer, namedLikeASession, operatorToken]) {
    const answer = await end(token);
    expect([answer.status, await answer.json()]).toEqual([200, { revoked: false }]);
    expect(await probe(token)).toBe(200);
  }
  const ended = await end(session);
  expect([ended.status, await ended.json()]).toEqual([200, { revoked: true }]);
  expect(await probe(session)).toBe(401);
  expect((await end(session)).status).toBe(401);
  const sessionId = session.slice('cairn_'.length, 'cairn_'.length + 12);
  const revoked = [...composition.engine.audit.entries()].filter((entry) => entry.action === 'token.revoked');
  expect(revoked.map((entry) => [entry.entity.id, entry.actor.id, entry.data['name']])).toEqual([
    [`token:${sessionId}`, `token:${sessionId}`, 'dashboard session'],
  ]);
});

test('on a loopback-operator server DELETE /v1/session revokes nothing', async () => {
  const { api } = await start('loopback-operator');
  const answer = await api('/v1/session', { method: 'DELETE' });
  expect([answer.status, await answer.json()]).toEqual([200, { revoked: false }]);
});

test('an expired code, an unknown one and a bearer token are refused at redeem; an expired session token is refused everywhere', async () => {
  const { base, composition, operatorToken } = await start('tokens');
  const past = new Date(Date.now() - 10 * 60_000);
  const expired = await composition.tokens.create('dashboard sign-in link', ['runs:read'], past, {
    oneTime: true,
    expiresAt: new Date(past.getTime() + 5 * 60_000),
  });
  for (const code of [expired.token, `cairn_${'0'.repeat(12)}_${'A'.repeat(43)}`, operatorToken, 'nonsense']) {
    const answer = await redeem(base, code);
    expect(answer.status).toBe(401);
    expect(await answer.json()).toMatchObject({ code: 'CAIRN_UNAUTHENTICATED' });
  }
  expect((await redeem(base, 'x'.repeat(300))).status).toBe(400);
  const ended = await composition.tokens.create('dashboard session', ['runs:read'], past, { expiresAt: new Date(Date.now() - 1) });
  expect((await fetch(`${base}/v1/runs`, { headers: { authorization: `Bearer ${ended.token}` } })).status).toBe(401);
  expect([...composition.engine.audit.entries()].filter((entry) => entry.action === 'token.created')).toEqual([]);
});

test('`cairn dashboard` refuses an unknown scope, naming it, and makes nothing', async () => {
  const { configFile, composition } = await start('tokens');
  const refused = await runCli(['--config', configFile, 'dashboard', '--scope', 'runs:everything']);
  expect(refused.status).toBe(2);
  expect(refused.stderr).toContain('runs:everything');
  expect((await composition.tokens.list()).map((record) => record.name)).toEqual(['operator']);
});

test('away from the server folder, `cairn dashboard` asks the server with an admin token; a token without admin may not make a link', async () => {
  const { base, api, composition, operatorToken } = await start('tokens');
  // No config in the temporary folder: the CLI goes over HTTP with CAIRN_TOKEN.
  const printed = await runCli(['--json', 'dashboard', '--server', base], { cwd: tmpdir(), env: { CAIRN_TOKEN: operatorToken } });
  expect(printed.stderr).toBe('');
  const { url } = JSON.parse(printed.stdout) as { url: string };
  const code = new RegExp(`^${base}/dashboard/#signin=(cairn_\\S+)$`).exec(url)![1]!;
  const answer = await redeem(base, code);
  expect(answer.status).toBe(200);
  expect(((await answer.json()) as { scopes: string[] }).scopes).toEqual(['runs:read', 'runs:approve', 'runs:cancel', 'audit:read']);
  expect((await redeem(base, code)).status).toBe(401);
  const created = [...composition.engine.audit.entries()].filter((entry) => entry.action === 'token.created');
  expect(created.map((entry) => entry.data['name'])).toEqual(['dashboard sign-in link', 'dashboard session']);

  // Scopes asked for over HTTP are the link's; a viewer token may not make links at all.
  const asked = await api('/v1/session/links', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ scopes: ['runs:read'] }),
  });
  expect(asked.status).toBe(201);
  expect(await asked.json()).toMatchObject({ code: expect.stringMatching(/^cairn_/), scopes: ['runs:read'] });
  const viewer = (await composition.tokens.create('viewer', ['runs:read'])).token;
  const refused = await runCli(['dashboard', '--server', base], { cwd: tmpdir(), env: { CAIRN_TOKEN: viewer } });
  expect(refused.status).not.toBe(0);
  expect(refused.stderr).toContain('CAIRN_FORBIDDEN');
  const anonymous = await runCli(['dashboard', '--server', base], { cwd: tmpdir(), unset: ['CAIRN_TOKEN'] });
  expect(anonymous.stderr).toContain('CAIRN_UNAUTHENTICATED');
});
