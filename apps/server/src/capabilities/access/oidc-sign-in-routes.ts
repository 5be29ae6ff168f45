import { CairnError } from '@cairn/protocol';
import { z } from 'zod';
import { dashboardSignIn } from './dashboard-sign-in.ts';
import { pendingSignInCookieValue, pendingSignInOf } from './oidc-sign-in.ts';
import { oidcCallbackPath } from './oidc-sign-in-settings.ts';
import { isTokenScope, roleScopePattern } from './token-scopes.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import type { HttpApp } from '../../http/http-app.ts';

const signInOptions = z
  .strictObject({
    identityProvider: z
      .strictObject({
        issuer: z.string().meta({ description: "The provider's issuer URL" }),
        dashboard: z.boolean().meta({ description: 'Whether the dashboard offers sign-in through the provider (GET /v1/session/oidc/start)' }),
        cli: z
          .strictObject({ clientId: z.string(), scopes: z.array(z.string()) })
          .nullable()
          .meta({ description: '`cairn login`: the public client and scopes of the device authorization grant (RFC 8628); null when not configured' }),
      })
      .nullable()
      .meta({ description: 'The identity provider people sign in through; null when the server has none (tokens only)' }),
  })
  .meta({ id: 'SignInOptions', description: 'How people sign in to this server, beside its tokens' });

/**
 * Sign-in through the identity provider. `GET /v1/sign-in` (no token: it is what a client reads
 * before it has one) says which provider and clients to use. The dashboard's flow is two browser
 * navigations, not API operations (hidden from the document): `start` sends the browser to the
 * provider with a fresh state, nonce and PKCE challenge, kept in an HttpOnly cookie only the
 * callback receives; `callback` checks them, exchanges the code, has the authorizer judge the
 * access token as any bearer JWT, and hands the tab a one-time code in the URL fragment that the
 * dashboard redeems (`POST /v1/session/redeem`) for a session token acting as the person.
 */
export function registerOidcSignInRoutes(app: HttpApp, { signIn, authorizer, tokens, service }: ServerComposition): void {
  app.get(
    '/v1/sign-in',
    {
      schema: {
        operationId: 'getSignInOptions',
        summary: 'How people sign in here: the identity provider, whether the dashboard offers it, and the client `cairn login` uses (no token needed)',
        response: { 200: signInOptions },
      },
    },
    async () => ({
      identityProvider: signIn
        ? {
            issuer: signIn.issuer,
            dashboard: signIn.clients.dashboard !== undefined,
            cli: signIn.clients.cli ? { clientId: signIn.clients.cli.clientId, scopes: [...signIn.clients.cli.scopes] } : null,
          }
        : null,
    }),
  );
  if (!signIn?.clients.dashboard) return;
  const { redirectUri } = signIn.clients.dashboard;
  const secure = redirectUri.startsWith('https:');
  app.get('/v1/session/oidc/start', { schema: { hide: true } }, async (_request, reply) => {
    const { url, pending } = await signIn.begin();
    reply.header('set-cookie', pendingSignInCookieValue(pending, secure, oidcCallbackPath));
    reply.header('cache-control', 'no-store');
    return reply.redirect(url, 302);
  });
  app.get('/v1/session/oidc/callback', { schema: { hide: true } }, async (request, reply) => {
    // Used once, whatever the outcome: a second visit of this URL finds no pending sign-in.
    reply.header('set-cookie', pendingSignInCookieValue(undefined, secure, oidcCallbackPath));
    reply.header('cache-control', 'no-store');
    const pending = pendingSignInOf(request.headers.cookie);
    if (!pending)
      throw new CairnError(
        'CAIRN_UNAUTHENTICATED',
        'No sign-in is in progress in this browser (it was started elsewhere, took more than 10 minutes, or was finished already). Start again from the dashboard’s sign-in page.',
        { details: { reason: 'no-pending-sign-in' } },
      );
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    const { accessToken, subject } = await signIn.finish(query, pending);
    const principal = await authorizer.authenticate(accessToken);
    if (principal?.actor.kind !== 'user' || principal.actor.id !== `${signIn.issuer}#${subject}`)
      throw new CairnError(
        'CAIRN_UNAUTHENTICATED',
        `The identity provider signed you in, but its access token is not one this server accepts (the server's log says why: most often its audience is not server.oidc.audience). Ask your administrator to have the provider issue JWT access tokens for Cairn's audience to the dashboard's client.`,
        { details: { reason: 'access-token' } },
      );
    const scopes = principal.scopes.filter(isTokenScope);
    if (scopes.length === 0)
      throw new CairnError(
        'CAIRN_FORBIDDEN',
        `Not allowed: you are signed in as ${principal.actor.id}, but no grant in server.oidc gives you a role with any scope here. Ask your administrator for one.`,
        { path: 'server.oidc.grants' },
      );
    const now = new Date();
    // The person's roles travel as role: scopes (as a token's would) and their groups beside them,
    // for approval policies that name either.
    const roles = (principal.roles ?? []).map((role) => `role:${role}`).filter((scope) => roleScopePattern.test(scope));
    const code = await tokens.create(dashboardSignIn.codeName, [...scopes, ...roles], now, {
      oneTime: true,
      expiresAt: new Date(now.getTime() + dashboardSignIn.codeLifetimeMs),
      person: principal.actor.id,
      groups: principal.groups ?? [],
    });
    await service.hostAudit.tokenCreated({
      actor: { ...principal.actor, via: 'http' },
      tokenId: code.record.id,
      name: code.record.name,
      scopes: code.record.scopes,
    });
    // The fragment never reaches a server nor a Referer; the dashboard takes it out of the address bar.
    return reply.redirect(`/dashboard/#signin=${encodeURIComponent(code.token)}`, 302);
  });
}
