import type { IncomingHttpHeaders } from 'node:http';
import { CairnError } from '@cairn/protocol';
import { z } from 'zod';
import { dashboardSignIn } from './dashboard-sign-in.ts';
import { principalOf, principalOfActor } from './token-principal.ts';
import { secretGrantPattern, tokenScopes } from './token-scopes.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { bodyLimits } from '../../http/body-limits.ts';
import type { HttpApp } from '../../http/http-app.ts';
import { loopbackOperator } from '../../http/loopback.ts';

/** The actions a client may ask about: what its buttons do (a dashboard hides those it may not). */
export const sessionActions = [
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
] as const;

const sessionAnswer = z
  .strictObject({
    actor: z.strictObject({ kind: z.string(), id: z.string() }),
    auth: z.enum(['tokens', 'loopback-operator']),
    actions: z.array(z.enum(sessionActions)),
  })
  .meta({
    id: 'Session',
    description:
      'Who the request acts as, and which of the actions runs.submit, runs.cancel, runs.budget, items.approve, items.reject, items.cancel, audit.read, tokens.manage, schedules.manage and runners.manage it may take (the authorizer may still refuse one for a particular run)',
  });

/**
 * `GET /v1/session` (`runs:read`): who the credential acts as and which actions it may take, so a
 * client shows only the buttons that will work — without trying them (a refused try is audited
 * as `access.denied`). The authorizer answers for each action, so a custom authorizer's rules hold.
 */
export function registerSessionRoutes(app: HttpApp, { authorizer, tokens, service, signIn }: ServerComposition, auth: 'tokens' | 'loopback-operator'): void {
  app.get(
    '/v1/session',
    {
      config: { action: 'session.read' },
      schema: { operationId: 'getSession', summary: 'Who this credential acts as, and which actions it may take', response: { 200: sessionAnswer } },
    },
    async (request) => {
      const actor = { kind: request.actor!.kind, id: request.actor!.id };
      if (request.actor === loopbackOperator) return { actor, auth, actions: [...sessionActions] };
      // The hook authenticated this credential a moment ago; it is read again for its scopes.
      const credential = bearerOf(request);
      const principal = await authorizer.authenticate(credential);
      if (!principal) return { actor, auth, actions: [] };
      const actions: (typeof sessionActions)[number][] = [];
      for (const action of sessionActions) if ((await authorizer.authorize(principal, action, { kind: 'server', id: 'server' })).allowed) actions.push(action);
      return { actor, auth, actions };
    },
  );
  // Signing out of the dashboard: the session token a sign-in link was exchanged for is revoked, so
  // a copy of it (a tab left open elsewhere, a leaked header) stops working now rather than when
  // it expires. Any other credential (a token pasted in, loopback) is the user's to keep: it is
  // left alone, and the answer says so.
  app.delete(
    '/v1/session',
    {
      config: { action: 'session.end' },
      schema: {
        operationId: 'endSession',
        summary: "End this dashboard session: revokes the request's token when it is a dashboard session token, and nothing else",
        response: {
          200: z.strictObject({
            revoked: z.boolean().meta({ description: 'Whether a dashboard session token was revoked (false for any other credential, which stays valid)' }),
          }),
        },
      },
    },
    async (request) => {
      if (request.actor === loopbackOperator) return { revoked: false };
      const credential = bearerOf(request);
      const record = await tokens.verify(credential);
      if (record?.session !== true) return { revoked: false };
      await tokens.revoke(record.id);
      await service.hostAudit.tokenRevoked({ actor: request.actor!, tokenId: record.id, name: record.name });
      return { revoked: true };
    },
  );
  // `cairn dashboard` away from the server's folder: an admin token (as for POST /v1/tokens) makes
  // the code. It grants no scope its maker lacks: asked-for ones it lacks are refused, the
  // default ones it lacks are left out.
  app.post(
    '/v1/session/links',
    {
      config: { action: 'tokens.manage' },
      schema: {
        operationId: 'createSignInCode',
        summary: 'Make a one-time dashboard sign-in code (5 minutes; stored hashed); the code is in this answer only',
        body: z.strictObject({
          scopes: z
            .array(
              z.union([z.enum(tokenScopes), z.string().regex(secretGrantPattern, 'must be a scope, or secrets:use:NAME (secrets:use:* for every secret)')]),
            )
            .min(1)
            .max(256)
            .optional()
            .meta({ description: `What the signed-in tab may do; default ${dashboardSignIn.defaultScopes.join(' ')}, less those the caller lacks` }),
        }),
        response: { 201: z.strictObject({ code: z.string(), expiresAt: z.string(), scopes: z.array(z.string()) }) },
      },
    },
    async (request, reply) => {
      const credential = bearerOf(request);
      // The operator of a loopback-operator server holds every scope.
      const maker = request.actor === loopbackOperator ? undefined : ((await authorizer.authenticate(credential))?.scopes ?? []);
      const holds = (scope: string) => maker === undefined || maker.includes('admin') || maker.includes(scope);
      const asked = request.body.scopes;
      const lacking = (asked ?? []).filter((scope) => !holds(scope));
      if (lacking.length > 0)
        throw new CairnError('CAIRN_FORBIDDEN', `Not allowed: a sign-in link grants no scope its maker lacks, and this token lacks ${lacking.join(', ')}.`, {
          path: 'scopes',
        });
      const scopes = asked ?? dashboardSignIn.defaultScopes.filter(holds);
      const now = new Date();
      // The link, and the session it becomes, belong to its maker: a second link is not a second approver (ADR 0046).
      const created = await tokens.create(dashboardSignIn.codeName, scopes, now, {
        oneTime: true,
        expiresAt: new Date(now.getTime() + dashboardSignIn.codeLifetimeMs),
        principal: principalOfActor(request.actor!, await tokens.list()),
      });
      await service.hostAudit.tokenCreated({ actor: request.actor!, tokenId: created.record.id, name: created.record.name, scopes: created.record.scopes });
      return reply.status(201).send({ code: created.token, expiresAt: created.record.expiresAt!, scopes: [...created.record.scopes] });
    },
  );
  // No action, so no bearer token: the code in the body is the credential. It is checked and used
  // up in one step of the store, so of two redeems of one code only one gets a session.
  app.post(
    '/v1/session/redeem',
    {
      bodyLimit: bodyLimits.signInCode,
      schema: {
        operationId: 'redeemSignInCode',
        summary: 'Exchange a one-time sign-in code (`cairn dashboard`) for a session token; the code is used up',
        body: z.strictObject({ code: z.string().max(256).meta({ description: 'The code of the link, after #signin=' }) }),
        response: {
          200: z.strictObject({
            token: z.string().meta({ description: 'A bearer token with the scopes of the code, expiring with the session' }),
            expiresAt: z.string(),
            scopes: z.array(z.string()),
          }),
        },
      },
    },
    async (request) => {
      const now = new Date();
      const code = await tokens.redeem(request.body.code, now);
      if (!code)
        throw new CairnError(
          'CAIRN_UNAUTHENTICATED',
          'This sign-in link is unknown, used already or expired (a link works once, for 5 minutes): run `cairn dashboard` for a new one, or sign in with a token.',
          { path: 'code' },
        );
      // A person's session (signed in through the identity provider) is theirs, and shorter.
      const lifetimeMs = code.person === undefined ? dashboardSignIn.sessionLifetimeMs : (signIn?.sessionLifetimeMs ?? dashboardSignIn.sessionLifetimeMs);
      const session = await tokens.create(dashboardSignIn.sessionName, code.scopes, now, {
        expiresAt: new Date(now.getTime() + lifetimeMs),
        session: true,
        ...(code.person === undefined ? { principal: principalOf(code) } : { person: code.person }),
        ...(code.groups === undefined ? {} : { groups: code.groups }),
      });
      await service.hostAudit.tokenCreated({
        actor: code.person === undefined ? { kind: 'token', id: `token:${code.id}`, via: 'http' } : { kind: 'user', id: code.person, via: 'http' },
        tokenId: session.record.id,
        name: session.record.name,
        scopes: session.record.scopes,
      });
      return { token: session.token, expiresAt: session.record.expiresAt!, scopes: [...session.record.scopes] };
    },
  );
}

/** The bearer token a request came with (the auth hook checked it already; these routes read it again for its record). */
function bearerOf(request: { readonly headers: IncomingHttpHeaders }): string {
  return (request.headers.authorization ?? '').slice('Bearer '.length).trim();
}
