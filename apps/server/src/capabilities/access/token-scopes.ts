import type { AuthenticatedPrincipal } from '@cairn/core';

/**
 * What a token may be allowed to do. `admin` allows everything. `branches:take-over` lets the runs
 * a token submits replace a branch another run delivered (a deliver item's `takeOver: true`).
 * `runners:run` is a runner's (ADR 0050): polling for attempts and reporting them, nothing else.
 */
export const tokenScopes = [
  'runs:submit',
  'runs:read',
  'runs:cancel',
  'runs:approve',
  'runs:budget',
  'branches:take-over',
  'audit:read',
  'runners:run',
  'admin',
] as const;

/**
 * A grant to use one secret in the runs a token submits (`secrets:use:API_KEY`), or every secret
 * (`secrets:use:*`). Without one, a run naming a secret is refused at submit: being allowed to
 * submit work is not being allowed to read the server's secrets.
 */
export type SecretGrantScope = `secrets:use:${string}`;

/**
 * A role a token holds (`role:release-managers`), as a person signed in through the identity
 * provider holds the roles its grants give them: what an approval policy's `from` names (ADR
 * 0041). It grants no scope by itself: approving still needs `runs:approve`.
 */
export type RoleScope = `role:${string}`;

export type TokenScope = (typeof tokenScopes)[number] | SecretGrantScope | RoleScope;

export const secretGrantPattern = /^secrets:use:(\*|[A-Za-z_][A-Za-z0-9_]*)$/;

/** A role scope: `role:` and a name as the run spec's `from` writes one. */
export const roleScopePattern = /^role:([A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127})$/;

/** Whether `scope` is one a token may hold: a fixed scope, a well-formed secret grant or role. */
export function isTokenScope(scope: string): scope is TokenScope {
  return (tokenScopes as readonly string[]).includes(scope) || secretGrantPattern.test(scope) || roleScopePattern.test(scope);
}

/**
 * What an approval policy's `from` is checked against for a principal: the roles its authorizer
 * gave it (an identity provider's) and those its token's `role:` scopes name, and its groups.
 */
export function voterOf(principal: AuthenticatedPrincipal): { roles: string[]; groups: string[] } {
  const roles = [...(principal.roles ?? []), ...principal.scopes.flatMap((scope) => roleScopePattern.exec(scope)?.[1] ?? [])];
  return { roles: [...new Set(roles)], groups: [...(principal.groups ?? [])] };
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
  // A runner's token polls, reports and reads and writes its attempts' storage: nothing else.
  'runner.run': 'runners:run',
  // Runners are the server's hosts: their names, labels and what they hold, and taking them out of service, are an operator's.
  'runners.read': 'admin',
  'runners.manage': 'admin',
};
