import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { z } from 'zod';
import { isTokenScope, tokenScopes, type TokenScope } from './token-scopes.ts';

/** A token as stored: its id, name and scopes, and the SHA-256 of its secret — never the secret. */
export interface StoredToken {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly TokenScope[];
  readonly secretHash: string;
  readonly createdAt: string;
  readonly revokedAt?: string;
}

/** A token as listed: everything but its hash. */
export type TokenRecord = Omit<StoredToken, 'secretHash'>;

/** The token file as `#write` writes it; anything else is refused, never half-trusted. */
const tokenFileSchema = z.object({
  tokens: z.array(
    z.object({
      id: z.string().regex(/^[0-9a-f]{12}$/),
      name: z.string(),
      scopes: z.array(z.string().refine(isTokenScope, 'is not a token scope')),
      secretHash: z.string().regex(/^[0-9a-f]{64}$/),
      createdAt: z.string(),
      revokedAt: z.string().optional(),
    }),
  ),
});

/** Tokens look like `cairn_<id>_<secret>`: the id finds the record, the secret proves it. */
const tokenPattern = /^cairn_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');

/**
 * Bearer tokens in one JSON file (0600), hashed: a token is shown once, when created, and the file
 * holds only SHA-256 of its secret. Every read looks at the file, so `cairn token revoke` takes
 * effect on a running server at its next request; writes replace the file atomically.
 */
export class TokenStore {
  readonly #file: string;
  /**
   * The tokens as last read, and the file they were read from (inode, size, change times): a
   * request costs one stat while the file is unchanged, not a read and a parse. Every write is a
   * new file (renamed over the old), so a change is never missed.
   */
  #cache: { readonly version: string; readonly tokens: StoredToken[] } | undefined;

  constructor(file: string) {
    this.#file = file;
  }

  /** Creates a token; returns it (the only time its secret exists outside the caller) and its record. */
  create(name: string, scopes: readonly string[], now = new Date()): { token: string; record: TokenRecord } {
    const unknown = scopes.filter((scope) => !isTokenScope(scope));
    if (scopes.length === 0 || unknown.length > 0) {
      throw new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        `A token needs one or more scopes of ${tokenScopes.join(', ')}, or secrets:use:NAME (secrets:use:* for every secret)${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}.`,
        { path: 'scopes' },
      );
    }
    if (!/^[\w .-]{1,64}$/.test(name))
      throw new CairnError('CAIRN_PAYLOAD_INVALID', 'A token name is 1 to 64 letters, digits, spaces, ".", "_" or "-".', { path: 'name' });
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const stored: StoredToken = { id, name, scopes: [...new Set(scopes)] as TokenScope[], secretHash: hashOf(secret), createdAt: now.toISOString() };
    this.#write([...this.#read(), stored]);
    const { secretHash: _hash, ...record } = stored;
    return { token: `cairn_${id}_${secret}`, record };
  }

  /** The live record a token belongs to; undefined for a malformed, unknown or revoked one. */
  verify(token: string): TokenRecord | undefined {
    const match = tokenPattern.exec(token);
    if (!match) return undefined;
    const stored = this.#read().find((candidate) => candidate.id === match[1]);
    if (!stored || stored.revokedAt !== undefined) return undefined;
    const given = Buffer.from(hashOf(match[2]!), 'hex');
    const expected = Buffer.from(stored.secretHash, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const { secretHash: _hash, ...record } = stored;
    return record;
  }

  list(): TokenRecord[] {
    return this.#read().map(({ secretHash: _hash, ...record }) => record);
  }

  /** Whether any token is live: a server with none may run in loopback single-operator mode. */
  hasLiveTokens(): boolean {
    return this.#read().some((token) => token.revokedAt === undefined);
  }

  revoke(id: string, now = new Date()): TokenRecord {
    const tokens = this.#read();
    const index = tokens.findIndex((token) => token.id === id);
    if (index < 0) throw new CairnError('CAIRN_NOT_FOUND', `There is no token ${id}; \`cairn token list\` shows them.`, { path: 'id' });
    const revoked = { ...tokens[index]!, revokedAt: tokens[index]!.revokedAt ?? now.toISOString() };
    tokens[index] = revoked;
    this.#write(tokens);
    const { secretHash: _hash, ...record } = revoked;
    return record;
  }

  #read(): StoredToken[] {
    const stats = statSync(this.#file, { bigint: true, throwIfNoEntry: false });
    if (stats === undefined) return [];
    const version = `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
    if (this.#cache?.version !== version) this.#cache = { version, tokens: this.#parse(readFileSync(this.#file, 'utf8')) };
    return [...this.#cache.tokens];
  }

  /**
   * The tokens of the file's text. A file that is not a token file (hand-edited, truncated) fails
   * closed with CAIRN_CONFIG_INVALID naming the file, the first problem and what to do: no request
   * is let through on it, and nothing is written over it.
   */
  #parse(text: string): StoredToken[] {
    let problem: string;
    try {
      const parsed = tokenFileSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data.tokens as StoredToken[];
      const [issue] = parsed.error.issues;
      problem = `$.${issue!.path.join('.')} ${issue!.message}`;
    } catch (error) {
      problem = `it is not JSON (${(error as Error).message})`;
    }
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `The token file ${this.#file} is not one Cairn wrote: ${problem}. Restore it from a backup (cairn backup keeps it), or move it aside and create tokens again with \`cairn token create\`.`,
      { path: this.#file },
    );
  }

  #write(tokens: readonly StoredToken[]): void {
    mkdirSync(dirname(this.#file), { recursive: true, mode: 0o700 });
    writeFileSync(`${this.#file}.tmp`, `${JSON.stringify({ tokens }, null, 2)}\n`, { mode: 0o600 });
    renameSync(`${this.#file}.tmp`, this.#file);
  }
}
