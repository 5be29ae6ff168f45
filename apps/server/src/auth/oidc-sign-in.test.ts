// A server configured with an OpenID provider (oidc-provider on loopback) accepts a person's JWT
// beside its own tokens, and records the person as the actor of what they do.
import { readFileSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { TestIdentityProvider, type TestPerson } from '../../../../packages/oidc/src/test-identity-provider.test-support.ts';
import { runningServers } from '../http/running-server.test-support.ts';

const start = runningServers();
const ana: TestPerson = { subject: 'ana', secret: 'ana-secret-0123456789abcdef0123456789', email: 'ana@example.test', groups: ['eng'] };
const bo: TestPerson = { subject: 'bo', secret: 'bo-secret-0123456789abcdef0123456789ab', email: 'bo@example.test', groups: ['ops'] };
const idp = await TestIdentityProvider.start({ people: [ana, bo], audience: 'cairn' });
afterAll(() => idp.close());

test("a person's JWT reads and submits runs as that person; a viewer may not submit; the server's tokens still work", { timeout: 30_000 }, async () => {
  const oidc = {
    issuer: idp.issuer,
    audience: 'cairn',
    roles: { viewer: ['runs:read'], operator: ['runs:read', 'runs:submit'] },
    grants: [
      { group: 'eng', role: 'operator' },
      { group: 'ops', role: 'viewer' },
    ],
  };
  const { base, api, configFile, composition } = await start('tokens', { config: { server: { oidc } } });
  expect((parseYaml(readFileSync(configFile, 'utf8')) as { server: object }).server).toMatchObject({ oidc: { issuer: idp.issuer } });
  const as = (token: string, path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });

  const anaToken = await idp.accessToken(ana);
  expect((await as(anaToken, '/v1/runs')).status).toBe(200);
  const submitted = await as(anaToken, '/v1/runs', {
    method: 'POST',
    body: JSON.stringify({ version: 1, name: 'by-ana', items: [{ id: 'hello', runtime: { kind: 'command', argv: ['/bin/true'] } }] }),
  });
  const { runId } = (await submitted.json()) as { runId: string };
  expect(submitted.status).toBe(201);
  const entry = composition.engine.audit.runEntries(runId).find((candidate) => candidate.action === 'run.submitted');
  expect(entry?.actor).toEqual({ kind: 'user', id: `${idp.issuer}#ana`, via: 'http' });

  const boToken = await idp.accessToken(bo);
  expect((await as(boToken, '/v1/runs')).status).toBe(200);
  const refused = await as(boToken, '/v1/runs', { method: 'POST', body: JSON.stringify({ version: 1, name: 'by-bo', items: [] }) });
  expect(refused.status).toBe(403);
  expect(((await refused.json()) as { message: string }).message).toContain('runs:submit');
  // A JWT for another audience is not a credential here; the operator's token still is.
  expect((await as(`${anaToken.slice(0, -2)}xx`, '/v1/runs')).status).toBe(401);
  expect((await api('/v1/runs')).status).toBe(200);
});
