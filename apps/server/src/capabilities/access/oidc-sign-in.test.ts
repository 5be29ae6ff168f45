// A server configured with an OpenID provider (oidc-provider on loopback) accepts a person's JWT
// beside its own tokens, and records the person as the actor of what they do; a provider that
// cannot be reached is a 503 naming it, for sign-in (its start and its callback) and bearer JWTs
// alike, each naming the option under server.oidc.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { TestIdentityProvider, type TestPerson } from '../../../../../packages/oidc/src/test-identity-provider.test-support.ts';
import { runningServers } from '../../http/running-server.test-support.ts';

const start = runningServers();
const ana: TestPerson = { subject: 'ana', secret: 'ana-secret-0123456789abcdef0123456789', email: 'ana@example.test', groups: ['eng'] };
const bo: TestPerson = { subject: 'bo', secret: 'bo-secret-0123456789abcdef0123456789ab', email: 'bo@example.test', groups: ['ops'] };
const idp = await TestIdentityProvider.start({ people: [ana, bo], audience: 'cairn' });

/** `server.oidc` for a dashboard sign-in through `issuer` whose people are viewers (no provider need answer to serve it). */
function dashboardSignIn(issuer: string) {
  return {
    issuer,
    audience: 'cairn',
    roles: { viewer: ['runs:read'] },
    dashboard: { clientId: 'cairn-dashboard', redirectUri: 'http://127.0.0.1:7410/v1/session/oidc/callback' },
  };
}
afterAll(() => idp.close());

/** A loopback port nothing listens on (taken, then let go): a provider that is down, or a server's port named before it listens. */
async function freePort(): Promise<number> {
  const listener = createServer();
  const port = await new Promise<number>((resolve) => listener.listen(0, '127.0.0.1', () => resolve((listener.address() as AddressInfo).port)));
  await new Promise((resolve) => listener.close(resolve));
  return port;
}

/** An error answer of the server. */
interface ErrorAnswer {
  readonly code: string;
  readonly message: string;
  readonly action: string;
  readonly path?: string;
}

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
    const issuer = `http://127.0.0.1:${await freePort()}`;
    const oidc = dashboardSignIn(issuer);
    const { base, api } = await start('tokens', { config: { server: { oidc } } });
    const answer = async (response: Response) => ({
      status: response.status,
      body: (await response.json()) as ErrorAnswer,
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
    // Named where the config holds it, as sign-in names it (the authorizer's settingsPath).
    expect(bearer.body).toMatchObject({ code: 'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE', path: 'server.oidc.issuer' });
    expect(bearer.body.message).toContain(`The identity provider ${issuer} could not be reached: its discovery document`);
    expect(bearer.body.message).toContain('Its JWTs cannot be checked until it answers; check server.oidc.issuer (or set server.oidc.jwksUri)');
    expect(bearer.body.action).toContain('Check that the issuer URL in the message');
    // The server's own tokens do not depend on the provider.
    expect((await api('/v1/runs')).status).toBe(200);
  },
);

test(
  "a provider that takes a connection and never answers: sign-in is answered 503 after server.oidc.requestTimeoutMs, not openid-client's 30 s",
  { timeout: 30_000 },
  async () => {
    const silent = createServer((socket) => socket.on('error', () => undefined));
    const port = await new Promise<number>((resolve) => silent.listen(0, '127.0.0.1', () => resolve((silent.address() as AddressInfo).port)));
    try {
      const oidc = { ...dashboardSignIn(`http://127.0.0.1:${port}`), requestTimeoutMs: 500 };
      const { base } = await start('tokens', { config: { server: { oidc } } });
      const started = performance.now();
      const signIn = await fetch(`${base}/v1/session/oidc/start`, { redirect: 'manual' });
      const seconds = (performance.now() - started) / 1000;
      expect([signIn.status, ((await signIn.json()) as ErrorAnswer).code]).toEqual([503, 'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE']);
      // Half a second's timeout, with room for a loaded machine; openid-client's default is 30 s.
      expect(seconds).toBeGreaterThanOrEqual(0.5);
      expect(seconds).toBeLessThan(10);
    } finally {
      silent.close();
    }
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
    const oidc = dashboardSignIn(issuer);
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

test(
  "the provider stops between the person's sign-in at its pages and the callback: 503 CAIRN_IDENTITY_PROVIDER_UNAVAILABLE naming the issuer and its token endpoint, not a refused sign-in",
  { timeout: 30_000 },
  async () => {
    // A provider of this test's own, as it is stopped; the person signs in at its pages with fetch.
    const provider = await TestIdentityProvider.start({ people: [ana], audience: 'cairn' });
    try {
      const port = await freePort();
      const redirectUri = `http://127.0.0.1:${port}/v1/session/oidc/callback`;
      provider.useSignInClients({ dashboard: { clientId: 'cairn-dashboard', redirectUri } });
      const oidc = {
        issuer: provider.issuer,
        audience: 'cairn',
        roles: { viewer: ['runs:read'] },
        grants: [{ group: 'eng', role: 'viewer' }],
        // `cairn`: the test provider's scope for Cairn's audience (its access tokens are then JWTs for it).
        dashboard: { clientId: 'cairn-dashboard', redirectUri, scopes: ['openid', 'email', 'cairn'] },
      };
      const { base, api } = await start('tokens', { port, config: { server: { oidc } } });
      /** The dashboard's start, then ana at the provider's login and consent pages: the callback the provider sends her back to. */
      const signInAtProvider = async () => {
        const started = await fetch(`${base}/v1/session/oidc/start`, { redirect: 'manual' });
        expect(started.status).toBe(302);
        const cookie = started.headers.get('set-cookie')!.split(';')[0]!;
        return { callback: await provider.authorize(started.headers.get('location')!, ana, redirectUri), cookie };
      };

      // While the provider answers, the same steps sign her in: the callback hands the dashboard its code.
      const first = await signInAtProvider();
      const signedIn = await fetch(first.callback, { headers: { cookie: first.cookie }, redirect: 'manual' });
      expect([signedIn.status, signedIn.headers.get('location')]).toEqual([302, expect.stringMatching(/^\/dashboard\/#signin=./)]);

      // She signs in at the provider again; it stops before the callback exchanges her code.
      const second = await signInAtProvider();
      await provider.close();
      const callback = await fetch(second.callback, { headers: { cookie: second.cookie }, redirect: 'manual' });
      const answer = (await callback.json()) as ErrorAnswer;
      expect([callback.status, answer.code, answer.path]).toEqual([503, 'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE', 'server.oidc.issuer']);
      expect(answer.message).toContain(
        `The identity provider ${provider.issuer} could not be reached: its token endpoint ${provider.issuer}/token did not answer (fetch failed: `,
      );
      // Refused, or cut if the server's fetch reused a connection of the first sign-in the provider's close had not reached yet.
      expect(answer.message).toMatch(/\(fetch failed: (connect ECONNREFUSED|other side closed|read ECONNRESET)/);
      expect(answer.message).toContain('Your sign-in could not be finished, and no one can sign in through it until it answers; check server.oidc.issuer');
      expect(answer.action).toContain('then try again');
      // The server's own tokens do not depend on the provider.
      expect((await api('/v1/runs')).status).toBe(200);
    } finally {
      await provider.close();
    }
  },
);

test(
  'a token endpoint answering 502 or a 5xx error is the provider unavailable (503); a refused code is still a refused sign-in (401)',
  { timeout: 30_000 },
  async () => {
    // A provider whose discovery document is served, and whose token endpoint answers what the test says.
    let tokenAnswer = { status: 502, type: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' };
    const provider = createHttpServer((request, response) => {
      const issuer = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
      const answer =
        request.url === '/token'
          ? tokenAnswer
          : {
              status: 200,
              type: 'application/json',
              body: JSON.stringify({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token` }),
            };
      response.writeHead(answer.status, { 'content-type': answer.type });
      response.end(answer.body);
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    try {
      const issuer = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
      const oidc = dashboardSignIn(issuer);
      const { base } = await start('tokens', { config: { server: { oidc } } });
      /** A callback with the state of a fresh start and a code the provider is asked to exchange. */
      const callback = async () => {
        const started = await fetch(`${base}/v1/session/oidc/start`, { redirect: 'manual' });
        const state = new URL(started.headers.get('location')!).searchParams.get('state')!;
        const response = await fetch(`${base}/v1/session/oidc/callback?${new URLSearchParams({ code: 'the-code', state })}`, {
          headers: { cookie: started.headers.get('set-cookie')!.split(';')[0]! },
        });
        return { status: response.status, body: (await response.json()) as ErrorAnswer };
      };

      const badGateway = await callback();
      expect([badGateway.status, badGateway.body.code]).toEqual([503, 'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE']);
      expect(badGateway.body.message).toContain(`its token endpoint ${issuer}/token answered with an error (unexpected HTTP response status code: HTTP 502)`);

      tokenAnswer = {
        status: 503,
        type: 'application/json',
        body: JSON.stringify({ error: 'temporarily_unavailable', error_description: 'down for maintenance' }),
      };
      const failing = await callback();
      expect([failing.status, failing.body.code]).toEqual([503, 'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE']);
      expect(failing.body.message).toContain(`its token endpoint ${issuer}/token answered with an error (unexpected HTTP response status code: HTTP 503)`);

      tokenAnswer = { status: 400, type: 'application/json', body: JSON.stringify({ error: 'invalid_grant', error_description: 'grant request is invalid' }) };
      const refused = await callback();
      expect([refused.status, refused.body.code]).toEqual([401, 'CAIRN_UNAUTHENTICATED']);
      expect(refused.body.message).toContain(`The identity provider ${issuer} refused the sign-in code: invalid_grant`);
    } finally {
      await new Promise((resolve) => provider.close(resolve));
    }
  },
);
