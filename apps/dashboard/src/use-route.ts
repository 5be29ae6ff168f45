import { useEffect, useState } from 'preact/hooks';

/** The runs list's filters as the page's URL keeps them: the names `GET /v1/runs` takes. */
export const runFilterNames = ['state', 'name', 'submitter', 'submittedAfter', 'submittedBefore'] as const;
export type RunFilters = Partial<Record<(typeof runFilterNames)[number], string | undefined>>;

/** The audit page's filters as the page's URL keeps them: the names `GET /v1/audit` takes. */
export const auditFilterNames = ['runId', 'action', 'actor', 'since', 'until', 'from', 'to'] as const;
export type AuditFilters = Partial<Record<(typeof auditFilterNames)[number], string | undefined>>;

/** Where the dashboard is: the runs, a run, an item of a run, a run's evidence, the schedules, the runners or the audit log. */
export type Route =
  | { readonly page: 'runs'; readonly filters: RunFilters }
  | { readonly page: 'run'; readonly runId: string; readonly itemId: string | null; readonly evidence: boolean; readonly timeline?: boolean }
  | { readonly page: 'schedules' }
  | { readonly page: 'runners' }
  | { readonly page: 'audit'; readonly filters: AuditFilters };

/** The query's values for `names`, empty ones left out (an empty input is no filter). */
function filtersOf<Name extends string>(query: string, names: readonly Name[]): Partial<Record<Name, string>> {
  const parameters = new URLSearchParams(query);
  const filters: Partial<Record<Name, string>> = {};
  for (const name of names) {
    const value = parameters.get(name);
    if (value !== null && value !== '') filters[name] = value;
  }
  return filters;
}

/** `filters` as a query string (`?name=a&state=b`), in the names' order; empty without any. */
export function queryOf(filters: Readonly<Record<string, string | undefined>>, names: readonly string[]): string {
  const parameters = new URLSearchParams();
  for (const name of names) {
    const value = filters[name];
    if (value !== undefined && value !== '') parameters.set(name, value);
  }
  const text = parameters.toString();
  return text === '' ? '' : `?${text}`;
}

/**
 * The route is the location's hash (`#/runs?state=failed&name=nightly`, `#/runs/<runId>`,
 * `#/runs/<runId>/items/<itemId>`, `#/runs/<runId>/evidence`, `#/runs/<runId>/timeline`, `#/schedules`, `#/runners`, `#/audit?runId=…`):
 * the server serves one page, and links, reloads and the back button work. Only ids and filters
 * are in it, never a credential.
 */
export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const segments = path
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => decodeURIComponent(segment));
  if (segments[0] === 'runs' && segments[1] !== undefined) {
    if (segments[2] === 'items' && segments[3] !== undefined) return { page: 'run', runId: segments[1], itemId: segments[3], evidence: false };
    return { page: 'run', runId: segments[1], itemId: null, evidence: segments[2] === 'evidence', timeline: segments[2] === 'timeline' };
  }
  if (segments[0] === 'schedules') return { page: 'schedules' };
  if (segments[0] === 'runners') return { page: 'runners' };
  if (segments[0] === 'audit') return { page: 'audit', filters: filtersOf(query, auditFilterNames) };
  return { page: 'runs', filters: filtersOf(query, runFilterNames) };
}

/** The hash of a route: what links point at. */
export function hrefOf(route: Route): string {
  if (route.page === 'runs') return `#/runs${queryOf(route.filters, runFilterNames)}`;
  if (route.page === 'schedules') return '#/schedules';
  if (route.page === 'runners') return '#/runners';
  if (route.page === 'audit') return `#/audit${queryOf(route.filters, auditFilterNames)}`;
  const run = `#/runs/${encodeURIComponent(route.runId)}`;
  if (route.itemId !== null) return `${run}/items/${encodeURIComponent(route.itemId)}`;
  return route.evidence ? `${run}/evidence` : route.timeline === true ? `${run}/timeline` : run;
}

/** The current route, following hash changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const follow = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, []);
  return route;
}
