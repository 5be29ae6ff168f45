import { z } from 'zod';
import { lapseOnRevoke } from './approval-standing.ts';
import { roleScopePattern, secretGrantPattern, tokenScopes } from './token-scopes.ts';
import { principalOf, principalOfActor, principalPattern } from './token-principal.ts';
import type { TokenRecord } from './token-store.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import type { HttpApp } from '../../http/http-app.ts';
import { tokenViewSchema } from '../../http/response-schemas.ts';

/** A token as answered: its record, with a list of scopes of its own, and whom it belongs to. */
const tokenView = (record: TokenRecord) => ({ ...record, scopes: [...record.scopes], principal: principalOf(record) });

const tokenParams = z.strictObject({ tokenId: z.string().regex(/^[0-9a-f]{12}$/, 'must be a token id: 12 hex digits (cairn token list)') });

/**
 * Bearer tokens over HTTP (`admin` only): list them (never their secrets or hashes), create one
 * (its secret is in this one answer and nowhere else), revoke one. Each change is audited with the
 * actor who made it; the entry names the token by id, never by secret. A revocation that ends a
 * principal's access to approve drops their approvals of items that have not started.
 */
export function registerTokenRoutes(app: HttpApp, { service, tokens }: ServerComposition): void {
  app.get(
    '/v1/tokens',
    {
      config: { action: 'tokens.manage' },
      schema: {
        operationId: 'listTokens',
        summary: 'Bearer tokens: id, name, scopes, created and revoked times (never secrets)',
        response: { 200: z.array(tokenViewSchema) },
      },
    },
    async () => (await tokens.list()).map(tokenView),
  );
  app.post(
    '/v1/tokens',
    {
      config: { action: 'tokens.manage' },
      schema: {
        operationId: 'createToken',
        summary: 'Make a token; its secret is in this answer only (stored hashed)',
        response: { 201: z.strictObject({ token: z.string(), record: tokenViewSchema }) },
        body: z.strictObject({
          name: z.string().regex(/^[\w .-]{1,64}$/, 'must be 1 to 64 letters, digits, spaces, ".", "_" or "-"'),
          scopes: z
            .array(
              z.union([
                z.enum(tokenScopes),
                z.string().regex(secretGrantPattern, 'must be a scope, or secrets:use:NAME (secrets:use:* for every secret)'),
                // A role the token holds, for approval policies' `from` (ADR 0041).
                z.string().regex(roleScopePattern, 'must be a scope, secrets:use:NAME, or role:NAME'),
              ]),
            )
            .min(1)
            .max(256),
          principal: z.string().regex(principalPattern, 'must be 1 to 256 printable characters without spaces').optional().meta({
            description:
              'Who the token belongs to: a person or a service (e.g. ana, service:ci, or <issuer>#<subject> for a person of the identity provider). Left out: whoever makes it. An approval policy counts one vote per principal, however many tokens they hold.',
          }),
        }),
      },
    },
    async (request, reply) => {
      // A token made for no one named belongs to its maker: a second token of theirs is still them
      // to an approval policy, not a second approver (ADR 0046).
      const principal = request.body.principal ?? principalOfActor(request.actor!, await tokens.list());
      const created = await tokens.create(request.body.name, request.body.scopes, new Date(), { principal });
      await service.hostAudit.tokenCreated({ actor: request.actor!, tokenId: created.record.id, name: created.record.name, scopes: created.record.scopes });
      return reply.status(201).send({ ...created, record: tokenView(created.record) });
    },
  );
  app.delete(
    '/v1/tokens/:tokenId',
    {
      config: { action: 'tokens.manage' },
      schema: {
        operationId: 'revokeToken',
        summary: 'Revoke a token: refused from the next request on',
        params: tokenParams,
        response: { 200: tokenViewSchema },
      },
    },
    async (request) => {
      const record = await tokens.revoke(request.params.tokenId);
      await service.hostAudit.tokenRevoked({ actor: request.actor!, tokenId: record.id, name: record.name });
      // Approvals of its principal that no longer hold must not let an item start (ADR 0046): an
      // item approved and waiting in `ready` for a slot goes back to waiting for approval.
      const lapse = lapseOnRevoke(record, await tokens.list(), new Date());
      if (lapse !== undefined) await service.lapseApprovals(lapse.principal, lapse.reason, request.actor!, lapse.rolesKept);
      return tokenView(record);
    },
  );
}
