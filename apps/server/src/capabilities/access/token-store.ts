import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CairnError } from '@cairn/protocol';
import { checkPrincipal } from './token-principal.ts';
import { isTokenScope, tokenScopes, type TokenScope } from './token-scopes.ts';

/** A token as stored: its id, name and scopes, and the SHA-256 of its secret — never the secret. */
export interface StoredToken {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly TokenScope[];
  readonly secretHash: string;
  readonly createdAt: string;
  readonly revokedAt?: string;
  /** When it stops authenticating (a dashboard session, a sign-in code); none: until revoked. */
  readonly expiresAt?: string;
  /**
   * A one-time sign-in code (`cairn dashboard`): never a bearer token, only exchanged once, before
   * it expires, for a session token (`redeem`), which revokes it.
   */
  readonly oneTime?: true;
  /**
   * A dashboard session (what a sign-in code is exchanged for): the one kind of token the
   * dashboard's Sign out revokes. Told by this mark, never by the token's name, which anyone
   * creating a token may choose.
   */
  readonly session?: true;
  /**
   * The person a sign-in through the identity provider made this code or session for
   * (`<issuer>#<subject>`): the token then acts as that person (a `user` actor), with the scopes
   * their roles gave them when they signed in, so the audit log names them, not a token.
   */
  readonly person?: string;
  /**
   * The identity provider's groups `person` was in when they signed in: what an approval policy's
   * `from` may name, beside the roles the token's `role:` scopes hold.
   */
  readonly groups?: readonly string[];
  /**
   * Who the token belongs to (ADR 0046): the person or service named when it was made, or the
   * principal of whoever made it. An approval policy counts one vote per principal, however many
   * tokens they hold. None on tokens made before principals were recorded: each is its own.
   */
  readonly principal?: string;
}

/** What a new token may carry besides its name and scopes. */
export interface NewTokenOptions {
  readonly expiresAt?: Date;
  readonly oneTime?: boolean;
  readonly session?: boolean;
  readonly person?: string;
  readonly groups?: readonly string[];
  readonly principal?: string;
}

/** A token as listed: everything but its hash. */
export type TokenRecord = Omit<StoredToken, 'secretHash'>;

/**
 * The server's bearer tokens, hashed: a token is shown once, when created, and the store holds only
 * SHA-256 of its secret. Two stores: a file of the data directory (`FileTokenStore`, one server or
 * replicas sharing the folder) and PostgreSQL (`PostgresTokenStore`, the engine's database, so
 * replicas on separate machines see each token and each revoke at their next request).
 */
export interface TokenStore {
  /**
   * Creates a token; returns it (the only time its secret exists outside the caller) and its
   * record. Tokens that expired more than `expiredTokenRetentionMs` before `now` are dropped.
   */
  create(name: string, scopes: readonly string[], now?: Date, options?: NewTokenOptions): Promise<{ token: string; record: TokenRecord }>;
  /** The live record a token belongs to; undefined for a malformed, unknown, revoked or expired one, and for a one-time code. */
  verify(token: string, now?: Date): Promise<TokenRecord | undefined>;
  /**
   * Uses up a one-time code: its record, revoked from now on, when it is a live, unexpired,
   * unused one-time code; undefined otherwise (a bearer token, an unknown, used or expired code).
   * Of two redeems of one code, even through two replicas, one gets the record.
   */
  redeem(code: string, now?: Date): Promise<TokenRecord | undefined>;
  list(): Promise<TokenRecord[]>;
  /** Whether any bearer token is live (unrevoked, unexpired, not a one-time code): a server with none may run in loopback single-operator mode. */
  hasLiveTokens(): Promise<boolean>;
  /** Revokes a token (a second revoke keeps the first time); CAIRN_NOT_FOUND when there is none by that id. */
  revoke(id: string, now?: Date): Promise<TokenRecord>;
  close(): Promise<void>;
}

/** Tokens look like `cairn_<id>_<secret>`: the id finds the record, the secret proves it. */
const tokenPattern = /^cairn_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/**
 * A new token of `name` with `scopes`, checked the same way by every store: the secret to show
 * once, and what to store (its hash, never the secret).
 */
export function newToken(name: string, scopes: readonly string[], now: Date, options: NewTokenOptions = {}): { token: string; stored: StoredToken } {
  const unknown = scopes.filter((scope) => !isTokenScope(scope));
  if (scopes.length === 0 || unknown.length > 0) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `A token needs one or more scopes of ${tokenScopes.join(', ')}, secrets:use:NAME (secrets:use:* for every secret), or role:NAME (a role approval policies name)${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}.`,
      { path: 'scopes' },
    );
  }
  if (!/^[\w .-]{1,64}$/.test(name))
    throw new CairnError('CAIRN_PAYLOAD_INVALID', 'A token name is 1 to 64 letters, digits, spaces, ".", "_" or "-".', { path: 'name' });
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const stored: StoredToken = {
    id,
    name,
    scopes: [...new Set(scopes)] as TokenScope[],
    secretHash: secretHashOf(secret),
    createdAt: now.toISOString(),
    ...(options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt.toISOString() }),
    ...(options.oneTime === true ? { oneTime: true as const } : {}),
    ...(options.session === true ? { session: true as const } : {}),
    ...(options.person === undefined ? {} : { person: options.person }),
    ...(options.groups === undefined || options.groups.length === 0 ? {} : { groups: [...options.groups] }),
    ...(options.principal === undefined ? {} : { principal: checkPrincipal(options.principal) }),
  };
  return { token: `cairn_${id}_${secret}`, stored };
}

/** The id a well-formed token names (to look its record up by), and its secret; undefined for a malformed one. */
export function parseToken(token: string): { readonly id: string; readonly secret: string } | undefined {
  const match = tokenPattern.exec(token);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

/**
 * Whether `secret` is the one `stored` was made with (in constant time), and the token live at
 * `now`: not revoked, not expired. Whether it is a bearer token or a one-time code is the caller's
 * question.
 */
export function tokenMatches(stored: StoredToken | undefined, secret: string, now: Date): stored is StoredToken {
  if (!stored || stored.revokedAt !== undefined || isExpired(stored, now)) return false;
  const given = Buffer.from(secretHashOf(secret), 'hex');
  const expected = Buffer.from(stored.secretHash, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether `stored` has expired by `now` (ISO times of one format compare as text). */
export function isExpired(stored: Pick<StoredToken, 'expiresAt'>, now: Date): boolean {
  return stored.expiresAt !== undefined && stored.expiresAt <= now.toISOString();
}

/**
 * How long a token that expired (a sign-in code, a dashboard session: every sign-in makes two) is
 * kept before the next `create` drops it, so the list does not grow with every sign-in. The audit
 * log keeps their creation and revocation; a token without an expiry is never dropped.
 */
export const expiredTokenRetentionMs = 7 * 24 * 60 * 60_000;

/** The time before which an expired token is dropped, at `now`. */
export function expiredTokenCutoff(now: Date): string {
  return new Date(now.getTime() - expiredTokenRetentionMs).toISOString();
}

/** Hashes `secret` as stored (and as a store that compares hashes itself, in one atomic update, compares it). */
export function secretHashOf(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * The record a bearer token `secret` authenticates as, by every store's `verify`: the secret is
 * `stored`'s, the token live at `now`, and no one-time code (a code only signs in, through `redeem`).
 */
export function bearerRecord(stored: StoredToken | undefined, secret: string, now: Date): TokenRecord | undefined {
  return tokenMatches(stored, secret, now) && stored.oneTime !== true ? recordOf(stored) : undefined;
}

/** A stored token without its hash. */
export function recordOf({ secretHash: _hash, ...record }: StoredToken): TokenRecord {
  return record;
}

/** The refusal of a revoke for an id no token has. */
export function unknownToken(id: string): CairnError {
  return new CairnError('CAIRN_NOT_FOUND', `There is no token ${id}; \`cairn token list\` shows them.`, { path: 'id' });
}
