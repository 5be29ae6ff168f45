/** What a token may be allowed to do. `admin` allows everything. */
export const tokenScopes = ['runs:submit', 'runs:read', 'runs:cancel', 'runs:approve', 'runs:budget', 'audit:read', 'admin'] as const;

/**
 * A grant to use one secret in the runs a token submits (`secrets:use:API_KEY`), or every secret
 * (`secrets:use:*`). Without one, a run naming a secret is refused at submit: being allowed to
 * submit work is not being allowed to read the server's secrets.
 */
export type SecretGrantScope = `secrets:use:${string}`;

export type TokenScope = (typeof tokenScopes)[number] | SecretGrantScope;

export const secretGrantPattern = /^secrets:use:(\*|[A-Za-z_][A-Za-z0-9_]*)$/;

/** Whether `scope` is one a token may hold: a fixed scope, or a well-formed secret grant. */
export function isTokenScope(scope: string): scope is TokenScope {
  return (tokenScopes as readonly string[]).includes(scope) || secretGrantPattern.test(scope);
}

/** The secrets a token's runs may use: `all` for admin and `secrets:use:*`, else the names it was granted. */
export function secretGrantsOf(scopes: readonly string[]): 'all' | string[] {
  if (scopes.includes('admin') || scopes.includes('secrets:use:*')) return 'all';
  return scopes.flatMap((scope) => secretGrantPattern.exec(scope)?.[1] ?? []);
}

/**
 * The scope each action needs. An action not listed here is denied to everyone, `admin` too: a
 * new route cannot be reached before it is given a scope.
 */
export const scopeOfAction: Readonly<Record<string, TokenScope>> = {
  'runs.submit': 'runs:submit',
  'runs.read': 'runs:read',
  'events.read': 'runs:read',
  'blobs.read': 'runs:read',
  'runs.cancel': 'runs:cancel',
  'items.cancel': 'runs:cancel',
  'items.approve': 'runs:approve',
  'items.reject': 'runs:approve',
  // Raising a run's budget spends money: a scope of its own, granted apart from approving.
  'runs.budget': 'runs:budget',
  'audit.read': 'audit:read',
  'metrics.read': 'runs:read',
  'session.read': 'runs:read',
  'session.end': 'runs:read',
  'tokens.manage': 'admin',
  'templates.read': 'runs:read',
  'schedules.read': 'runs:read',
  'schedules.manage': 'admin',
  'secrets.read': 'admin',
  'secrets.manage': 'admin',
  'webhooks.read': 'admin',
  'webhooks.manage': 'admin',
};
