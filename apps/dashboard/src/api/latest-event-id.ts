import type { DashboardApi } from './dashboard-api.ts';

/**
 * The id of the newest event so far: event ids are audit sequence numbers, and `/readyz` says how
 * many audit entries there are. A page reads it BEFORE it loads what it shows, then follows events
 * after it: nothing that changes after the load is missed, and the server's whole history is not
 * replayed into the page. Null when the server does not say (the stream then starts from its
 * beginning, which is still correct, only slower).
 */
export async function latestEventId(api: DashboardApi): Promise<number | null> {
  try {
    const health = (await (await fetch('/readyz', { headers: api.headers(), cache: 'no-store' })).json()) as { auditEntries?: unknown };
    return typeof health.auditEntries === 'number' && Number.isSafeInteger(health.auditEntries) ? health.auditEntries - 1 : null;
  } catch {
    return null;
  }
}
