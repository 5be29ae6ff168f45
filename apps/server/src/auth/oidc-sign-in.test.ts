// A server configured with an OpenID provider (oidc-provider on loopback) accepts a person's JWT
// beside its own tokens, and records the person as the actor of what they do; a provider that
// cannot be reached is a 503 naming it, for sign-in and bearer JWTs alike.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
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

test(
  'an identity provider that cannot be reached: sign-in and a bearer JWT are answered 503 CAIRN_IDENTITY_PROVIDER_UNAVAILABLE naming it; tokens still work',
  { timeout: 30_000 },
  async () => {
    // A loopback port nothing listens on (taken, then let go).
    const listener = createServer();
    const port = await new Promise<number>((resolve) => listener.listen(0, '127.0.0.1', () => resolve((listener.address() as { port: number }).port)));
    await new Promise((resolve) => listener.close(resolve));
    const issuer = `http://127.0.0.1:${port}`;
    const oidc = {
      issuer,
      audience: 'cairn',
      roles: { viewer: ['runs:read'] },
      dashboard: { clientId: 'cairn-dashboard', redirectUri: 'http://127.0.0.1:7410/v1/session/oidc/callback' },
    };
    const { base, api } = await start('tokens', { config: { server: { oidc } } });
    const answer = async (response: Response) => ({
      status: response.status,
      body: (await response.json()) as { code: string; message: string; action: string; path?: string },
    });

    const signIn = await answer(await fetch(`${base}/v1/session/oidc/start`, { redirect: 'manual' }));
    expect(signIn.status).toBe(503);
    expect(signIn.body).toMatchObject({ code: 'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE', path: 'server.oidc.issuer' });
    expect(signIn.body.message).toContain(
      `The identity provider ${issuer} could not be reached: its discovery document ${issuer}/.well-known/openid-configuration could not be read`,
    );
    expect(signIn.body.message).toContain('ECONNREFUSED');
    expect(signIn.body.message).toContain('No one can sign in through it until it answers; check server.oidc.issuer');

    // A JWT naming that issuer (its signature is never reached: the keys cannot be fetched).
    const claims = Buffer.from(JSON.stringify({ iss: issuer, sub: 'ana', aud: 'cairn', exp: Math.floor(Date.now() / 1_000) + 300 })).toString('base64url');
    const jwt = `${Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'at+jwt', kid: 'k' })).toString('base64url')}.${claims}.${Buffer.from('signature').toString('base64url')}`;
    const bearer = await answer(await fetch(`${base}/v1/runs`, { headers: { authorization: `Bearer ${jwt}` } }));
    expect(bearer.status).toBe(503);
    expect(bearer.body).toMatchObject({ code: 'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE', path: 'oidc.issuer' });
    expect(bearer.body.message).toContain(`The identity provider ${issuer} could not be reached: its discovery document`);
    expect(bearer.body.message).toContain('Its JWTs cannot be checked until it answers; check oidc.issuer (or set oidc.jwksUri)');
    expect(bearer.body.action).toContain('Check that the issuer URL in the message');
    // The server's own tokens do not depend on the provider.
    expect((await api('/v1/runs')).status).toBe(200);
  },
);

test('sign-in through a provider whose discovery document names another issuer is a config error naming server.oidc.issuer', { timeout: 30_000 }, async () => {
  const impostor = createHttpServer((_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ issuer: idp.issuer, authorization_endpoint: `${idp.issuer}/auth`, jwks_uri: `${idp.issuer}/jwks` }));
  });
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  try {
    const issuer = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
    const oidc = {
      issuer,
      audience: 'cairn',
      roles: { viewer: ['runs:read'] },
      dashboard: { clientId: 'cairn-dashboard', redirectUri: 'http://127.0.0.1:7410/v1/session/oidc/callback' },
    };
    const { base } = await start('tokens', { config: { server: { oidc } } });
    const response = await fetch(`${base}/v1/session/oidc/start`, { redirect: 'manual' });
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({
      code: 'CAIRN_CONFIG_INVALID',
      path: 'server.oidc.issuer',
      message: expect.stringContaining(`The discovery document ${issuer}/.well-known/openid-configuration names another issuer than ${issuer}`),
    });
  } finally {
    await new Promise((resolve) => impostor.close(resolve));
  }
});
