import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type BigIntStats } from 'node:fs';
import { dirname } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { z } from 'zod';
import { withFileLock } from '../../store/sqlite/file-lock.ts';
import { principalPattern } from './token-principal.ts';
import { isTokenScope } from './token-scopes.ts';
import {
  bearerRecord,
  expiredTokenCutoff,
  isExpired,
  newToken,
  parseToken,
  recordOf,
  tokenMatches,
  unknownToken,
  type NewTokenOptions,
  type StoredToken,
  type TokenRecord,
  type TokenStore,
} from './token-store.ts';

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
      expiresAt: z.string().optional(),
      oneTime: z.literal(true).optional(),
      session: z.literal(true).optional(),
      person: z.string().min(1).optional(),
      groups: z.array(z.string()).optional(),
      principal: z.string().regex(principalPattern).optional(),
    }),
  ),
});

/**
 * Bearer tokens in one JSON file (0600), hashed: a token is shown once, when created, and the file
 * holds only SHA-256 of its secret. Every read looks at the file, so `cairn token revoke` takes
 * effect on a running server at its next request; writes replace the file atomically. Several
 * processes change the file (the server redeeming codes and opening dashboard sessions,
 * `cairn token create` and `revoke`), so every change is made under a lock beside it
 * (`tokens.json.lock`): none is lost to another process's write.
 */
export class FileTokenStore implements TokenStore {
  readonly #file: string;
  /**
   * The tokens as last read, and the file they were read from (inode, size, change times): a
   * request costs one stat while the file is unchanged, not a read and a parse. Every write is a
   * new file (renamed over the old), so a change is never missed by a read. A change reads the file
   * itself even so: an inode can be reused, and two writes within one tick of the file system's
   * clock may leave the same size and times.
   */
  #cache: { readonly version: string; readonly tokens: StoredToken[] } | undefined;

  constructor(file: string) {
    this.#file = file;
  }

  async create(name: string, scopes: readonly string[], now = new Date(), options: NewTokenOptions = {}): Promise<{ token: string; record: TokenRecord }> {
    const { token, stored } = newToken(name, scopes, now, options);
    const cutoff = expiredTokenCutoff(now);
    this.#change((tokens) => ({ write: [...tokens.filter((kept) => kept.expiresAt === undefined || kept.expiresAt >= cutoff), stored], result: undefined }));
    return { token, record: recordOf(stored) };
  }

  async verify(token: string, now = new Date()): Promise<TokenRecord | undefined> {
    const parsed = parseToken(token);
    if (!parsed) return undefined;
    const stored = this.#read().find((candidate) => candidate.id === parsed.id);
    return bearerRecord(stored, parsed.secret, now);
  }

  /** Read, check and write under the lock: of two redeems of one code, in this process or another, the second finds it used. */
  async redeem(code: string, now = new Date()): Promise<TokenRecord | undefined> {
    const parsed = parseToken(code);
    if (!parsed) return undefined;
    return this.#change((tokens) => {
      const index = tokens.findIndex((candidate) => candidate.id === parsed.id);
      const stored = tokens[index];
      if (!tokenMatches(stored, parsed.secret, now) || stored.oneTime !== true) return { result: undefined };
      const used = { ...stored, revokedAt: now.toISOString() };
      tokens[index] = used;
      return { write: tokens, result: recordOf(used) };
    });
  }

  async list(): Promise<TokenRecord[]> {
    return this.#read().map(recordOf);
  }

  async hasLiveTokens(): Promise<boolean> {
    const now = new Date();
    return this.#read().some((token) => token.revokedAt === undefined && token.oneTime !== true && !isExpired(token, now));
  }

  async revoke(id: string, now = new Date()): Promise<TokenRecord> {
    return this.#change((tokens) => {
      const index = tokens.findIndex((token) => token.id === id);
      if (index < 0) throw unknownToken(id);
      const revoked = { ...tokens[index]!, revokedAt: tokens[index]!.revokedAt ?? now.toISOString() };
      tokens[index] = revoked;
      return { write: tokens, result: recordOf(revoked) };
    });
  }

  /** The tokens as stored, hashes included: what moves into the PostgreSQL store (`PostgresTokenStore.import`). */
  stored(): StoredToken[] {
    return this.#read();
  }

  /** Nothing to close: every call reads or writes the file itself. */
  async close(): Promise<void> {}

  #read(): StoredToken[] {
    const stats = statSync(this.#file, { bigint: true, throwIfNoEntry: false });
    if (stats === undefined) return [];
    const version = versionOf(stats);
    if (this.#cache?.version !== version) this.#cache = { version, tokens: this.#parse(readFileSync(this.#file, 'utf8')) };
    return [...this.#cache.tokens];
  }

  /**
   * Applies `change` to the tokens the file holds now and writes the tokens it answers (none:
   * nothing to write), under the lock of every process that changes the file. Without it, the
   * server and `cairn token` (or two CLIs) could both read, both write, and the last rename would
   * drop the other's change. The file is read again under the lock, whatever the cache holds.
   */
  #change<Result>(change: (tokens: StoredToken[]) => { readonly write?: readonly StoredToken[]; readonly result: Result }): Result {
    mkdirSync(dirname(this.#file), { recursive: true, mode: 0o700 });
    return withFileLock(`${this.#file}.lock`, () => {
      const stats = statSync(this.#file, { bigint: true, throwIfNoEntry: false });
      const tokens = stats === undefined ? [] : this.#parse(readFileSync(this.#file, 'utf8'));
      if (stats !== undefined) this.#cache = { version: versionOf(stats), tokens };
      const { write, result } = change([...tokens]);
      if (write !== undefined) this.#write(write);
      return result;
    });
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

  /**
   * Writes `tokens` as a new file (0600, flushed) renamed over the old: a reader sees the old file
   * or the new, never part of one. Called under the lock; the temporary name is still this
   * writer's own, so that no other writer (a Cairn from before the lock) ever writes into the same
   * file.
   */
  #write(tokens: readonly StoredToken[]): void {
    const temporary = `${this.#file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
    try {
      const descriptor = openSync(temporary, 'wx', 0o600);
      try {
        writeFileSync(descriptor, `${JSON.stringify({ tokens }, null, 2)}\n`);
        fsyncSync(descriptor);
      } finally {
        closeSync(descriptor);
      }
      renameSync(temporary, this.#file);
      // The new name is durable only once its folder is flushed: without it, a power cut after a
      // token was shown (or revoked) could bring back the file before the change.
      const folder = openSync(dirname(this.#file), 'r');
      try {
        fsyncSync(folder);
      } finally {
        closeSync(folder);
      }
    } catch (error) {
      rmSync(temporary, { force: true });
      throw error;
    }
  }
}

/** What tells one version of the token file from another without reading it. */
function versionOf(stats: BigIntStats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}
