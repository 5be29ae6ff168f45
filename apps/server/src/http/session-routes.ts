import { z } from 'zod';
import type { ServerComposition } from '../composition/compose-server.ts';
import type { HttpApp } from './http-app.ts';

/** The actions a client may ask about: what its buttons do (a dashboard hides those it may not). */
export const sessionActions = [
  'runs.submit',
  'runs.cancel',
  'items.approve',
  'items.reject',
  'items.cancel',
  'audit.read',
  'tokens.manage',
  'schedules.manage',
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
      'Who the request acts as, and which of the actions runs.submit, runs.cancel, items.approve, items.reject, items.cancel, audit.read, tokens.manage and schedules.manage it may take (the authorizer may still refuse one for a particular run)',
  });

/**
 * `GET /v1/session` (`runs:read`): who the credential acts as and which actions it may take, so a
 * client shows only the buttons that will work — without trying them (a refused try is audited
 * as `access.denied`). The authorizer answers for each action, so a custom authorizer's rules hold.
 */
export function registerSessionRoutes(app: HttpApp, { authorizer }: ServerComposition, auth: 'tokens' | 'loopback-operator'): void {
  app.get(
    '/v1/session',
    {
      config: { action: 'session.read' },
      schema: { operationId: 'getSession', summary: 'Who this credential acts as, and which actions it may take', response: { 200: sessionAnswer } },
    },
    async (request) => {
      const actor = { kind: request.actor!.kind, id: request.actor!.id };
      if (auth === 'loopback-operator') return { actor, auth, actions: [...sessionActions] };
      // The hook authenticated this credential a moment ago; it is read again for its scopes.
      const credential = (request.headers.authorization ?? '').slice('Bearer '.length).trim();
      const principal = await authorizer.authenticate(credential);
      if (!principal) return { actor, auth, actions: [] };
      const actions: (typeof sessionActions)[number][] = [];
      for (const action of sessionActions) if ((await authorizer.authorize(principal, action, { kind: 'server', id: 'server' })).allowed) actions.push(action);
      return { actor, auth, actions };
    },
  );
}
