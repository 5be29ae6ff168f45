import { DashboardApi } from './dashboard-api.ts';

/**
 * The code of a one-time sign-in link (`cairn dashboard` prints `…/dashboard/#signin=<code>`),
 * taken out of the address bar before anything else runs: it would otherwise stay in the tab's
 * history and in a bookmark or a copied link. A fragment never reaches a server nor a Referer.
 * Null when the page was not opened from such a link.
 */
export function takeSignInCode(): string | null {
  const match = /^#signin=([^&#]+)$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(history.state, '', `${location.pathname}${location.search}`);
  return decodeURIComponent(match[1]!);
}

/** Exchanges a sign-in code (once: the server uses it up) for a session token; an ApiError says why not. */
export async function redeemSignInCode(code: string): Promise<string> {
  const { token } = await new DashboardApi(null).post<{ token: string }>('/v1/session/redeem', { code });
  return token;
}
