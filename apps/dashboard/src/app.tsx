import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api/api-error.ts';
import { DashboardApi } from './api/dashboard-api.ts';
import { AuditPage } from './pages/audit-page.tsx';
import { RunPage } from './pages/run-page.tsx';
import { RunsPage } from './pages/runs-page.tsx';
import { RunnersPage } from './pages/runners-page.tsx';
import { SchedulesPage } from './pages/schedules-page.tsx';
import { sessionToken } from './api/session-token.ts';
import { redeemSignInCode, takeSignInCode } from './api/sign-in-link.ts';
import { SignInPage } from './pages/sign-in-page.tsx';
import { useRoute } from './use-route.ts';
import { readPermissions, type Permissions } from './api/permissions.ts';

/** What a tab says when the server refuses its token (revoked, or unknown), whichever request noticed first. */
const revokedNotice = 'The server no longer accepts this token: sign in again.';

type Session =
  | { readonly kind: 'starting' }
  | { readonly kind: 'signed-out'; readonly notice: string | null }
  | { readonly kind: 'signed-in'; readonly api: DashboardApi; readonly permissions: Permissions };

/**
 * The dashboard: it signs in with a token kept in sessionStorage — pasted, or the session token a
 * one-time sign-in link's code (`signInCode`, already out of the address bar) is exchanged for —
 * on every server, a loopback-operator one included: a browser acting as the operator without a
 * token would let any page it shows do so too. Then the route picks the page.
 */
export function App({ signInCode = null }: { readonly signInCode?: string | null }) {
  const [session, setSession] = useState<Session>({ kind: 'starting' });
  const route = useRoute();
  useEffect(() => {
    // The last start wins: a link opened while the first one still runs replaces what it finds.
    let starts = 0;
    const begin = (code: string | null) => {
      const started = ++starts;
      void start(code).then((next) => started === starts && setSession(next));
    };
    begin(signInCode);
    // A sign-in link opened in a tab already showing the dashboard changes only the fragment: the
    // page is not loaded again, so its code is taken here, out of the address bar at once.
    const signInFromLink = () => {
      const code = takeSignInCode();
      if (code === null) return;
      setSession({ kind: 'starting' });
      begin(code);
    };
    addEventListener('hashchange', signInFromLink);
    return () => removeEventListener('hashchange', signInFromLink);
  }, []);
  // The server is told first: a session a sign-in link made ends there too (its token revoked, so a
  // copy of it stops working); a token pasted in stays the user's. The tab forgets it either way.
  const signOut = async () => {
    const told =
      session.kind !== 'signed-in' ||
      (await session.api.request('DELETE', '/v1/session').then(
        () => true,
        () => false,
      ));
    sessionToken.clear();
    setSession({
      kind: 'signed-out',
      notice: told ? 'Signed out.' : 'Signed out of this tab, but the server could not be told: a session token stays valid until it expires.',
    });
  };
  // A token revoked (or a server restarted with other tokens) while the page is open. One function
  // for the App's life: the pages' loaders depend on it, and a new one each render (a route change,
  // anything) made a page read its list again, blanking it to "Loading…" meanwhile.
  const onUnauthenticated = useCallback(() => {
    sessionToken.clear();
    setSession({ kind: 'signed-out', notice: revokedNotice });
  }, []);
  if (session.kind === 'starting') return <p class="loading">Loading…</p>;
  if (session.kind === 'signed-out')
    return (
      <SignInPage
        notice={session.notice}
        onSignedIn={(api, permissions) => {
          sessionToken.write(api.token!);
          setSession({ kind: 'signed-in', api, permissions });
        }}
      />
    );
  const { api, permissions } = session;
  return (
    <>
      <header class="top">
        <a class="brand" href="#/runs">
          Cairn
        </a>
        <nav aria-label="Pages">
          <a href="#/runs" aria-current={route.page === 'runs' || route.page === 'run' ? 'page' : undefined}>
            Runs
          </a>
          <a href="#/schedules" aria-current={route.page === 'schedules' ? 'page' : undefined}>
            Schedules
          </a>
          {permissions.may('runners.manage') && (
            <a href="#/runners" aria-current={route.page === 'runners' ? 'page' : undefined}>
              Runners
            </a>
          )}
          {permissions.may('audit.read') && (
            <a href="#/audit" aria-current={route.page === 'audit' ? 'page' : undefined}>
              Audit log
            </a>
          )}
        </nav>
        <span class="who">
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </span>
      </header>
      {route.page === 'runs' ? (
        <RunsPage api={api} permissions={permissions} filters={route.filters} onUnauthenticated={onUnauthenticated} />
      ) : route.page === 'schedules' ? (
        <SchedulesPage api={api} permissions={permissions} onUnauthenticated={onUnauthenticated} />
      ) : route.page === 'runners' ? (
        permissions.may('runners.manage') ? (
          <RunnersPage api={api} permissions={permissions} onUnauthenticated={onUnauthenticated} />
        ) : (
          <main class="runners-page">
            <h1>Runners</h1>
            <p class="error" role="alert">
              This token may not see the runners: it needs the admin scope.
            </p>
          </main>
        )
      ) : route.page === 'audit' ? (
        permissions.may('audit.read') ? (
          <AuditPage api={api} filters={route.filters} onUnauthenticated={onUnauthenticated} />
        ) : (
          <main class="audit-page">
            <h1>Audit log</h1>
            <p class="error" role="alert">
              This token may not read the audit log: it needs the audit:read scope.
            </p>
          </main>
        )
      ) : (
        <RunPage key={route.runId} api={api} route={route} permissions={permissions} onUnauthenticated={onUnauthenticated} />
      )}
    </>
  );
}

async function start(signInCode: string | null): Promise<Session> {
  if (signInCode !== null) {
    // A link signs this tab in afresh: the code's session replaces any token the tab held.
    try {
      sessionToken.write(await redeemSignInCode(signInCode));
    } catch (failure) {
      sessionToken.clear();
      return { kind: 'signed-out', notice: `The sign-in link did not work: ${failure instanceof Error ? failure.message : String(failure)}` };
    }
  }
  const token = sessionToken.read();
  if (token === null) return { kind: 'signed-out', notice: null };
  const api = new DashboardApi(token);
  try {
    return { kind: 'signed-in', api, permissions: await readPermissions(api) };
  } catch (failure) {
    sessionToken.clear();
    return {
      kind: 'signed-out',
      notice: failure instanceof ApiError && failure.status === 401 ? revokedNotice : String(failure),
    };
  }
}
