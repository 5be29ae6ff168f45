import type { AuditActor } from '@cairn/core';
import type { Voter } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';
import { scopeOfAction, secretGrantsOf, voterOf } from '../capabilities/access/token-scopes.ts';
import type { ServerComposition } from '../composition/server-composition.ts';
import type { HttpApp } from './http-app.ts';
import { isBrowserRequest } from './browser-requests.ts';
import { loopbackOperator, loopbackPeerUid } from './loopback.ts';

/**
 * Who each request acts as, for every route that names its action: the actor of its bearer token
 * once the authorizer allows the action on the resource the path names (401 without a valid
 * token, 403 without the scope, audited as `access.denied`), or with `auth: 'loopback-operator'`
 * the operator, when the connection comes from the server's own user and not from a browser.
 * Sets `request.actor`, `request.secretGrants`, `request.mayTakeOverBranches` and `request.voter`.
 */
export function identifyRequests(app: HttpApp, { service, authorizer }: ServerComposition, auth: 'tokens' | 'loopback-operator'): void {
  const serverUid = process.getuid?.() ?? 0;
  app.decorateRequest('actor', null);
  app.decorateRequest('secretGrants', null);
  app.decorateRequest('voter', null);
  app.decorateRequest('mayTakeOverBranches', false);
  app.addHook('onRequest', async (request) => {
    const action = (request.routeOptions.config as { action?: string } | undefined)?.action;
    if (action === undefined) return;
    // A browser runs as the operator's user too, so a page it shows could act as them: a browser
    // (the dashboard) signs in with a token here as on any server.
    if (auth === 'loopback-operator' && !isBrowserRequest(request.headers)) {
      // Being on this machine is not being its operator: a sandbox (its own uid) or another user
      // reaching the loopback port is refused; only the user the server runs as is the operator.
      const uid = loopbackPeerUid(request.raw.socket);
      if (uid === null || uid !== serverUid) {
        await service.hostAudit.accessDenied({
          actor: { kind: 'system', id: uid === null ? 'unknown-local-user' : `uid:${uid}`, via: 'http' },
          entity: { kind: 'server', id: 'operator' },
          requestedAction: action,
          reason: "loopback-operator: not the server's user",
        });
        throw new CairnError(
          'CAIRN_FORBIDDEN',
          `Not allowed: in loopback-operator mode only the user the server runs as (uid ${serverUid}) is its operator, and this connection ${uid === null ? 'could not be traced to a user' : `comes from uid ${uid}`} (a sandbox, or another user). Use a token (auth: tokens).`,
          { details: { action } },
        );
      }
      request.actor = loopbackOperator;
      request.secretGrants = 'all';
      request.mayTakeOverBranches = true;
      // The operator holds no role: an approval policy naming roles (from) counts people with them.
      request.voter = {};
      return;
    }
    const header = request.headers.authorization;
    const credential = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const principal = credential === undefined ? null : await authorizer.authenticate(credential);
    // The scope the action needs is named, so a client can say which token to make.
    const scope = scopeOfAction[action];
    if (!principal)
      throw new CairnError(
        'CAIRN_UNAUTHENTICATED',
        credential === undefined
          ? auth === 'loopback-operator'
            ? 'A browser needs a token even on a loopback-operator server (a page it shows could act as you otherwise): sign in with a link from `cairn dashboard`, or a token from `cairn token create`.'
            : `This request needs a bearer token${scope ? ` with the ${scope} scope` : ''} (Authorization: Bearer cairn_...); \`cairn token create${scope ? ` --scope ${scope}` : ''}\` makes one.`
          : `The bearer token is unknown or revoked; \`cairn token create${scope ? ` --scope ${scope}` : ''}\` makes a new one.`,
        { details: { action, scope: scope ?? null } },
      );
    const params = request.params as { runId?: string; itemId?: string; digest?: string };
    const resource = {
      kind: params.itemId ? 'item' : params.runId ? 'run' : params.digest ? 'blob' : 'server',
      id: params.itemId ? `${params.runId}/${params.itemId}` : (params.runId ?? params.digest ?? 'server'),
    };
    const decision = await authorizer.authorize(principal, action, resource);
    const actor: AuditActor = { ...principal.actor, via: 'http' };
    if (!decision.allowed) {
      await service.hostAudit.accessDenied({
        actor,
        entity: resource.kind === 'run' || resource.kind === 'item' ? { kind: resource.kind, id: resource.id } : { kind: 'server', id: resource.id },
        requestedAction: action,
        reason: decision.reason,
      });
      throw new CairnError('CAIRN_FORBIDDEN', `Not allowed: ${decision.reason}.`, {
        details: { action, scope: scope ?? null, signedIn: principal.actor.kind === 'user' ? 'identity-provider' : 'token' },
        action: forbiddenAdvice(principal, scope),
      });
    }
    request.actor = actor;
    request.secretGrants = secretGrantsOf(principal.scopes);
    request.mayTakeOverBranches = principal.scopes.includes('admin') || principal.scopes.includes('branches:take-over');
    request.voter = voterOf(principal);
  });
}

/**
 * What a caller refused an action can do about it, by how they signed in: a person signed in
 * through the identity provider (`cairn login`, the dashboard's sign-in: a `user` actor) holds the
 * scopes their roles there are granted, so a token of their own is not the way; a token's holder
 * needs a token with the scope.
 */
function forbiddenAdvice(
  principal: { readonly actor: { readonly kind: string; readonly id: string }; readonly roles?: readonly string[] },
  scope: string | undefined,
): string {
  const needed = scope === undefined ? 'the scope named in the message' : `the ${scope} scope`;
  if (principal.actor.kind === 'user') {
    // A dashboard session knows the person's groups, not their roles: only a JWT's are named.
    const { roles } = principal;
    const held = roles === undefined ? '' : roles.length === 0 ? ', with no Cairn role' : `, with the Cairn roles ${roles.join(', ')}`;
    return `You signed in through the identity provider as ${principal.actor.id}${held}: you hold the scopes of the roles server.oidc.grants give you (by your groups, roles, email or subject at the provider; server.oidc.roles lists each role's scopes), not a token's. Ask an admin of the server for a role with ${needed} (a grant in server.oidc, or a group at the identity provider that one names), then sign in again (\`cairn login\`, or the dashboard's sign-in) so your token carries it.`;
  }
  return `Use a token with ${needed}: an admin makes one with \`cairn token create --name NAME --scope ${scope ?? 'SCOPE'}\` in the server's folder.`;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as, once authenticated (routes with an action only). */
    actor: AuditActor | null;
    /** The secrets the request's principal may hand to the runs it submits (`secrets:use:` scopes). */
    secretGrants: 'all' | string[] | null;
    /** Whether the runs the request submits may take over a branch another run delivered (`branches:take-over`). */
    mayTakeOverBranches: boolean;
    /** What an approval policy's `from` is checked against: the principal's roles (a token's `role:` scopes) and groups. */
    voter: Voter | null;
  }
}
