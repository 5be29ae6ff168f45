import type { DashboardApi } from './dashboard-api.ts';
import type { components } from './openapi.d.ts';

/** An action `GET /v1/session` may name. */
type Action = components['schemas']['Session']['actions'][number];

/** What this session may do beyond reading: the actions `GET /v1/session` names. */
export interface Permissions {
  readonly actor: string;
  readonly may: (action: Action) => boolean;
}

/**
 * Asks the server which actions this credential may take (`GET /v1/session`), so only the buttons
 * that will work are shown — asking is not trying: a refused try would be audited as a denial.
 * Needs runs:read, as every page does: it doubles as the sign-in check.
 */
export async function readPermissions(api: DashboardApi): Promise<Permissions> {
  const session = await api.json<components['schemas']['Session']>('/v1/session');
  const actions = new Set<Action>(session.actions);
  return { actor: `${session.actor.kind}:${session.actor.id}`, may: (action) => actions.has(action) };
}
