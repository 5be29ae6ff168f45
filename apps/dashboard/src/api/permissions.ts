import type { DashboardApi } from './dashboard-api.ts';

/** What this session may do beyond reading: the actions `GET /v1/session` names. */
export interface Permissions {
  readonly actor: string;
  readonly may: (action: 'runs.cancel' | 'runs.budget' | 'items.approve' | 'items.reject' | 'items.cancel' | 'audit.read' | 'schedules.manage') => boolean;
}

/**
 * Asks the server which actions this credential may take (`GET /v1/session`), so only the buttons
 * that will work are shown — asking is not trying: a refused try would be audited as a denial.
 * Needs runs:read, as every page does: it doubles as the sign-in check.
 */
export async function readPermissions(api: DashboardApi): Promise<Permissions> {
  const session = await api.json<{ actor: { kind: string; id: string }; actions: string[] }>('/v1/session');
  const actions = new Set(session.actions);
  return { actor: `${session.actor.kind}:${session.actor.id}`, may: (action) => actions.has(action) };
}
