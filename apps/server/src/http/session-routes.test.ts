// GET /v1/session: who a credential acts as and which actions it may take, answered by the
// authorizer for each action, with nothing audited as denied (a client asks instead of trying).
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

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
    'items.approve',
    'items.reject',
    'items.cancel',
    'audit.read',
    'tokens.manage',
    'schedules.manage',
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
    actions: ['runs.submit', 'runs.cancel', 'items.approve', 'items.reject', 'items.cancel', 'audit.read', 'tokens.manage', 'schedules.manage'],
  });
});
