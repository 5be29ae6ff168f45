import type { Actor } from '@cairn/core';
import { CairnError } from '@cairn/protocol/errors';
import type { TokenRecord } from './token-store.ts';

/**
 * A principal as a token records it: printable ASCII without spaces, up to 256 characters, so that
 * a person signed in through the identity provider (`https://idp.example#248289761001`), a person
 * named by an admin (`ana`, `ana@example.com`) and a service (`service:ci`) all fit.
 */
export const principalPattern = /^[\x21-\x7e]{1,256}$/;

/** Refuses a principal that is not one (CAIRN_PAYLOAD_INVALID at `path`). */
export function checkPrincipal(principal: string, path = 'principal'): string {
  if (!principalPattern.test(principal))
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `A token's principal (who it belongs to: a person or a service, e.g. "ana" or "service:ci") is 1 to 256 printable characters without spaces; got ${JSON.stringify(principal)}.`,
      { path },
    );
  return principal;
}

/**
 * Who a token belongs to (ADR 0046): the principal recorded when it was made; for a session of a
 * person signed in through the identity provider, that person; for a token made before principals
 * were recorded, the token itself, as it counted then.
 */
export function principalOf(record: Pick<TokenRecord, 'id' | 'principal' | 'person'>): string {
  return record.principal ?? record.person ?? `token:${record.id}`;
}

/**
 * Who `actor` is, given the tokens: a token actor (`token:<id>`) is its token's principal; a person
 * (`user`) or Cairn itself is its own id. A token no longer listed is itself.
 */
export function principalOfActor(actor: Pick<Actor, 'kind' | 'id'>, tokens: readonly TokenRecord[]): string {
  if (actor.kind !== 'token' || !actor.id.startsWith('token:')) return actor.id;
  const id = actor.id.slice('token:'.length);
  const record = tokens.find((token) => token.id === id);
  return record === undefined ? actor.id : principalOf(record);
}
