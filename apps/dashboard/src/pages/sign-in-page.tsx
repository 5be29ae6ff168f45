import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/api-error.ts';
import { DashboardApi } from '../api/dashboard-api.ts';
import type { components } from '../api/openapi.d.ts';
import { readPermissions, type Permissions } from '../api/permissions.ts';

/** `GET /v1/sign-in`: whether the server offers sign-in through its identity provider. */
type SignInOptions = components['schemas']['SignInOptions'];

/**
 * Sign-in through the server's identity provider, when it offers one (a link: the browser goes to
 * the provider and comes back with a one-time code, as from `cairn dashboard`), or with a bearer token (`cairn token create --scope runs:read ...`). The token is checked
 * against the API (it must at least read runs) before it is kept, in this tab's sessionStorage.
 */
export function SignInPage({
  onSignedIn,
  notice,
}: {
  readonly onSignedIn: (api: DashboardApi, permissions: Permissions) => void;
  readonly notice: string | null;
}) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);
  const [provider, setProvider] = useState<string | null>(null);
  useEffect(() => {
    // No token needed; a server that cannot say (an older one) simply offers tokens.
    new DashboardApi(null)
      .json<SignInOptions>('/v1/sign-in')
      .then((options) => setProvider(options.identityProvider?.dashboard ? options.identityProvider.issuer : null))
      .catch(() => setProvider(null));
  }, []);
  const submit = async (event: Event) => {
    event.preventDefault();
    const candidate = token.trim();
    if (candidate === '') return setError('Paste a token: `cairn token create` makes one.');
    setChecking(true);
    setError(null);
    const api = new DashboardApi(candidate);
    try {
      onSignedIn(api, await readPermissions(api));
    } catch (failure) {
      setError(signInProblem(failure));
    } finally {
      setChecking(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>Cairn</h1>
      {notice && <p class="notice">{notice}</p>}
      {provider !== null && (
        <p class="identity-provider">
          <a href="/v1/session/oidc/start">Sign in with your identity provider</a> <span class="hint">({new URL(provider).host})</span>
        </p>
      )}
      <form onSubmit={(event) => void submit(event)}>
        <label for="token">Bearer token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={token}
          onInput={(event) => setToken((event.target as HTMLInputElement).value)}
          placeholder="cairn_…"
        />
        <button type="submit" disabled={checking}>
          {checking ? 'Checking…' : 'Sign in'}
        </button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
      <p class="hint">
        The token stays in this tab only (sessionStorage) and is sent as an Authorization header, never in a link. Make one with{' '}
        <code>cairn token create --name dashboard --scope runs:read</code> (add <code>runs:approve</code>, <code>runs:cancel</code>, <code>audit:read</code> for
        the buttons and the evidence). Or run <code>cairn dashboard</code> in the server's folder: it prints a link that signs this tab in once.
      </p>
    </main>
  );
}

function signInProblem(failure: unknown): string {
  if (failure instanceof ApiError) {
    if (failure.status === 401) return 'This token is unknown or revoked. Check it, or make a new one with `cairn token create`.';
    if (failure.status === 403) return 'This token may not read runs: it needs the runs:read scope.';
    return failure.message;
  }
  return failure instanceof Error ? failure.message : String(failure);
}
