/** What a token may be allowed to do. `admin` allows everything. */
export const tokenScopes = ['runs:submit', 'runs:read', 'runs:cancel', 'runs:approve', 'audit:read', 'admin'] as const;

export type TokenScope = (typeof tokenScopes)[number];

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
  'audit.read': 'audit:read',
  'metrics.read': 'runs:read',
  'tokens.manage': 'admin',
  'schedules.read': 'runs:read',
  'schedules.manage': 'admin',
  'secrets.read': 'admin',
  'secrets.manage': 'admin',
  'webhooks.read': 'admin',
  'webhooks.manage': 'admin',
};
