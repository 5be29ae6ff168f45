// Signing in to the dashboard through an identity provider, in Debian's Chromium, through the real
// redirect flow (authorization code + PKCE) against oidc-provider on loopback: two people in
// different groups, one allowed to cancel runs and one not; signing out revokes the session.
import { createServer } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, expect, test } from 'vitest';
import { TestIdentityProvider, type TestPerson } from '../../../packages/oidc/src/test-identity-provider.test-support.ts';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { shell } from './submit-run.test-support.ts';

const start = runningServers();
const { open, screenshot } = browserPages();
const ana: TestPerson = { subject: 'ana', secret: 'ana-secret-0123456789abcdef0123456789', email: 'ana@example.test', groups: ['eng'] };
const bo: TestPerson = { subject: 'bo', secret: 'bo-secret-0123456789abcdef0123456789ab', email: 'bo@example.test', groups: ['ops'] };
const idp = await TestIdentityProvider.start({ people: [ana, bo], audience: 'cairn' });
afterAll(() => idp.close());

/** A free loopback port: the redirect URI names the server's address before the server listens. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Through the provider's own login and consent pages, as `person` (the login is the subject; any password). */
async function signInAtProvider(page: Page, person: TestPerson): Promise<void> {
  // The provider's pages import a web font; the test machine reaches no other host.
  await page.context().route('https://fonts.googleapis.com/**', (route) => route.fulfill({ status: 200, contentType: 'text/css', body: '' }));
  await page.getByRole('link', { name: 'Sign in with your identity provider' }).click();
  await page.locator('input[name=login]').fill(person.subject);
  await page.locator('input[name=password]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect.poll(() => page.getByRole('heading', { name: /Runs/ }).isVisible(), { timeout: 10_000 }).toBe(true);
}

test(
  'people sign in through the provider: the one whose role allows it cancels a run, the other is refused; signing out revokes the session',
  { timeout: 60_000 },
  async () => {
    const port = await freePort();
    const redirectUri = `http://127.0.0.1:${port}/v1/session/oidc/callback`;
    idp.useSignInClients({ dashboard: { clientId: 'cairn-dashboard', redirectUri } });
    const oidc = {
      issuer: idp.issuer,
      audience: 'cairn',
      roles: { viewer: ['runs:read'], operator: ['runs:read', 'runs:cancel'] },
      grants: [
        { group: 'eng', role: 'operator' },
        { group: 'ops', role: 'viewer' },
      ],
      // `cairn` is the test provider's scope for Cairn's audience: its access tokens are then JWTs for it.
      dashboard: { clientId: 'cairn-dashboard', redirectUri, scopes: ['openid', 'email', 'cairn'], sessionMinutes: 30 },
    };
    const { base, api, composition } = await start('tokens', { port, config: { server: { oidc } } });
    const submitted = await api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1, name: 'waits-for-a-person', items: [shell('gate', 'true', { approval: 'required' })] }),
    });
    expect(submitted.status).toBe(201);
    const { runId } = (await submitted.json()) as { runId: string };
    const as = (token: string, path: string, init: RequestInit = {}) => fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}` } });

    // No sign-in in progress in this browser (no cookie of the start): the callback refuses.
    const stray = await fetch(`${base}/v1/session/oidc/callback?code=stolen&state=guessed`);
    expect([stray.status, ((await stray.json()) as { code: string }).code]).toEqual([401, 'CAIRN_UNAUTHENTICATED']);

    // The start sends the browser to the provider with PKCE, for the exact redirect URI, and keeps
    // what the callback checks in a cookie only the callback gets; a forged state is refused.
    const started = await fetch(`${base}/v1/session/oidc/start`, { redirect: 'manual' });
    const location = new URL(started.headers.get('location')!);
    expect([started.status, location.origin]).toEqual([302, idp.issuer]);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      client_id: 'cairn-dashboard',
      redirect_uri: redirectUri,
      response_type: 'code',
      code_challenge_method: 'S256',
    });
    const cookie = started.headers.get('set-cookie')!;
    expect(cookie).toMatch(/; Path=\/v1\/session\/oidc\/callback; HttpOnly; SameSite=Lax; Max-Age=600$/);
    const forgedQuery = new URLSearchParams({ code: 'made-up', state: 'not-the-one', iss: idp.issuer });
    const forged = await fetch(`${base}/v1/session/oidc/callback?${forgedQuery}`, { headers: { cookie: cookie.split(';')[0]! } });
    const forgedAnswer = (await forged.json()) as { code: string; message: string };
    expect([forged.status, forgedAnswer.code]).toEqual([401, 'CAIRN_UNAUTHENTICATED']);
    expect(forgedAnswer.message).toContain('state');

    const anaPage = await open(`${base}/dashboard/`);
    await signInAtProvider(anaPage, ana);
    expect(anaPage.url()).toBe(`${base}/dashboard/`);
    await expect.poll(() => anaPage.getByRole('link', { name: 'waits-for-a-person' }).isVisible()).toBe(true);
    await screenshot(anaPage, 'oidc-signed-in');
    const anaSession = (await anaPage.evaluate(() => sessionStorage.getItem('cairn.token')))!;
    const session = (await (await as(anaSession, '/v1/session')).json()) as { actor: { kind: string; id: string }; actions: string[] };
    expect(session.actor).toEqual({ kind: 'user', id: `${idp.issuer}#ana` });
    expect(session.actions).toContain('runs.cancel');
    const record = (await composition.tokens.list()).find((token) => token.session === true && token.person === `${idp.issuer}#ana`)!;
    // Her roles and groups travel with the session, for approval policies that name them.
    expect([[...record.scopes].sort(), record.groups]).toEqual([['role:operator', 'runs:cancel', 'runs:read'], ['eng']]);
    // Short-lived: the configured 30 minutes, not the 12 hours of a link's session.
    expect(Date.parse(record.expiresAt!) - Date.parse(record.createdAt)).toBe(30 * 60_000);

    const boPage = await open(`${base}/dashboard/`);
    await signInAtProvider(boPage, bo);
    await expect.poll(() => boPage.getByRole('link', { name: 'waits-for-a-person' }).isVisible()).toBe(true);
    const boSession = (await boPage.evaluate(() => sessionStorage.getItem('cairn.token')))!;
    const refused = await as(boSession, `/v1/runs/${runId}/cancel`, { method: 'POST' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toContain('runs:cancel');
    expect((await as(anaSession, `/v1/runs/${runId}/cancel`, { method: 'POST' })).status).toBe(202);
    await expect
      .poll(() => composition.engine.audit.runEntries(runId).find((entry) => entry.action === 'run.cancelled')?.actor)
      .toMatchObject({ kind: 'user', id: `${idp.issuer}#ana` });
    const cancelled = composition.engine.audit.runEntries(runId).find((entry) => entry.action === 'run.cancelled');
    expect(cancelled?.actor).toMatchObject({ kind: 'user', id: `${idp.issuer}#ana` });

    await anaPage.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => anaPage.getByText('Signed out.').isVisible()).toBe(true);
    expect((await as(anaSession, '/v1/runs')).status).toBe(401);
    expect((await as(boSession, '/v1/runs')).status).toBe(200);
  },
);
