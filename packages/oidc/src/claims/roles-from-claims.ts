import type { JWTPayload } from 'jose';
import type { OidcGrant } from '../authorizer/oidc-authorizer-settings.ts';
import { sameEmailAddress } from './same-email-address.ts';

/** The claims a grant is matched against, read from a verified token. */
export interface PersonClaims {
  readonly subject: string;
  readonly groups: readonly string[];
  readonly providerRoles: readonly string[];
  /** Present only when the token says the issuer verified it (`email_verified: true`). */
  readonly verifiedEmail?: string;
}

/** A claim by name, or by a dotted path into nested claims (`realm_access.roles`). */
function claimAt(payload: JWTPayload, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A list-of-strings claim; a single string counts as a list of one, anything else as none. */
function stringsAt(payload: JWTPayload, path: string): string[] {
  const value = claimAt(payload, path);
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : [];
}

export function personClaims(payload: JWTPayload, names: { groupsClaim: string; rolesClaim: string; emailClaim: string }): PersonClaims {
  const email = claimAt(payload, names.emailClaim);
  // An unverified address may be one the person typed in: it must not earn an email grant.
  const verified = payload['email_verified'] === true && typeof email === 'string';
  return {
    subject: payload.sub ?? '',
    groups: stringsAt(payload, names.groupsClaim),
    providerRoles: stringsAt(payload, names.rolesClaim),
    ...(verified ? { verifiedEmail: email } : {}),
  };
}

/** The Cairn roles the grants give a person, in the order the grants list them, each once. */
export function rolesFromClaims(claims: PersonClaims, grants: readonly OidcGrant[]): string[] {
  const roles = new Set<string>();
  for (const grant of grants) {
    const matches =
      'group' in grant
        ? claims.groups.includes(grant.group)
        : 'providerRole' in grant
          ? claims.providerRoles.includes(grant.providerRole)
          : 'email' in grant
            ? claims.verifiedEmail !== undefined && sameEmailAddress(claims.verifiedEmail, grant.email)
            : claims.subject === grant.subject;
    if (matches) roles.add(grant.role);
  }
  return [...roles];
}

/** The union of the scopes of `roles`, sorted. */
export function scopesOfRoles(roles: readonly string[], definitions: Readonly<Record<string, readonly string[]>>): string[] {
  return [...new Set(roles.flatMap((role) => definitions[role] ?? []))].sort();
}
