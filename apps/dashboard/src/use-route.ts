import { useEffect, useState } from 'preact/hooks';

/** Where the dashboard is: the runs, a run, an item of a run, or a run's evidence. */
export type Route =
  | { readonly page: 'runs'; readonly state: string | null }
  | { readonly page: 'run'; readonly runId: string; readonly itemId: string | null; readonly evidence: boolean };

/**
 * The route is the location's hash (`#/runs?state=failed`, `#/runs/<runId>`, `#/runs/<runId>/items/<itemId>`,
 * `#/runs/<runId>/evidence`): the server serves one page, and links, reloads and the back button
 * work. Only ids and filters are in it, never a credential.
 */
export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const segments = path
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => decodeURIComponent(segment));
  if (segments[0] === 'runs' && segments[1] !== undefined) {
    if (segments[2] === 'items' && segments[3] !== undefined) return { page: 'run', runId: segments[1], itemId: segments[3], evidence: false };
    return { page: 'run', runId: segments[1], itemId: null, evidence: segments[2] === 'evidence' };
  }
  return { page: 'runs', state: new URLSearchParams(query).get('state') };
}

/** The hash of a route: what links point at. */
export function hrefOf(route: Route): string {
  if (route.page === 'runs') return route.state === null ? '#/runs' : `#/runs?state=${encodeURIComponent(route.state)}`;
  const run = `#/runs/${encodeURIComponent(route.runId)}`;
  if (route.itemId !== null) return `${run}/items/${encodeURIComponent(route.itemId)}`;
  return route.evidence ? `${run}/evidence` : run;
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
