import type { TokenScope } from './token-scopes.ts';

/**
 * The dashboard's one-time sign-in links (`cairn dashboard`): a code in the link's fragment (never
 * sent to a server, nor in a Referer) that the page exchanges once, at `POST /v1/session/redeem`,
 * for a session token it keeps in the tab's sessionStorage. The code lives minutes — long enough
 * to open a link, short enough that one in a terminal's scrollback is dead; the session a working
 * day, so a forgotten tab does not hold a credential for good.
 */
export const dashboardSignIn = {
  codeLifetimeMs: 5 * 60_000,
  sessionLifetimeMs: 12 * 60 * 60_000,
  /** What a link grants unless `--scope` says otherwise: the dashboard's pages and buttons, not submitting runs or administering. */
  defaultScopes: ['runs:read', 'runs:approve', 'runs:cancel', 'audit:read'] as readonly TokenScope[],
  codeName: 'dashboard sign-in link',
  sessionName: 'dashboard session',
} as const;
