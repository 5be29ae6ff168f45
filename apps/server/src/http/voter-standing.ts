import { voterWithStanding } from '../capabilities/access/approval-standing.ts';
import type { ServerComposition } from '../composition/server-composition.ts';
import type { HttpApp } from './http-app.ts';

/** The actions whose caller votes under an approval policy. */
const votingActions = new Set(['items.approve', 'items.reject']);

/**
 * Completes `request.voter` for a vote (ADR 0046), once the request is identified and its path
 * checked: who the voter is (their token's principal), who submitted the run, and which approvals
 * already cast no longer count because their principal's access lapsed. The engine counts one vote
 * per principal and drops the lapsed ones before deciding the approval.
 */
export function standVoters(app: HttpApp, { service, tokens }: Pick<ServerComposition, 'service' | 'tokens'>): void {
  app.addHook('preHandler', async (request) => {
    const action = (request.routeOptions.config as { action?: string } | undefined)?.action;
    if (action === undefined || !votingActions.has(action) || request.actor === null) return;
    const { runId, itemId } = request.params as { runId: string; itemId: string };
    request.voter = await voterWithStanding(service, tokens, runId, itemId, request.actor, request.voter ?? {});
  });
}
