import type { ServerPostgres } from '../../../store/postgres/server-postgres.ts';
import type { TokenScope } from '../token-scopes.ts';
import {
  bearerRecord,
  expiredTokenCutoff,
  newToken,
  parseToken,
  recordOf,
  secretHashOf,
  unknownToken,
  type NewTokenOptions,
  type StoredToken,
  type TokenRecord,
  type TokenStore,
} from '../token-store.ts';

interface TokenRow {
  token_id: string;
  name: string;
  scopes: string[];
  secret_hash: string;
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  one_time: boolean;
  session: boolean;
  person: string | null;
  groups: string[] | null;
  principal: string | null;
}

const columns = 'token_id, name, scopes, secret_hash, created_at, revoked_at, expires_at, one_time, session, person, groups, principal';

/**
 * Bearer tokens in the engine's PostgreSQL database (`server_tokens`), hashed as in the token file:
 * every replica reads the same rows. Nothing is cached: each request's token is one primary-key
 * read, so a token made at one replica authenticates at every other one as soon as its insert
 * commits, and a revoke is refused everywhere from the next request after it commits.
 */
export class PostgresTokenStore implements TokenStore {
  readonly #database: ServerPostgres;
  readonly #closeDatabase: boolean;

  /** `closeDatabase`: whether `close()` closes the connections too (a store that owns them). */
  constructor(database: ServerPostgres, options: { readonly closeDatabase?: boolean } = {}) {
    this.#database = database;
    this.#closeDatabase = options.closeDatabase ?? false;
  }

  async create(name: string, scopes: readonly string[], now = new Date(), options: NewTokenOptions = {}): Promise<{ token: string; record: TokenRecord }> {
    const { token, stored } = newToken(name, scopes, now, options);
    // One statement: the tokens that expired long ago go as this one comes.
    await this.#database.query(
      `WITH dropped AS (DELETE FROM ${this.#database.schema}.server_tokens WHERE expires_at < $8)
       INSERT INTO ${this.#database.schema}.server_tokens (${columns}) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $9, $10, $11, $12)`,
      [
        stored.id,
        stored.name,
        stored.scopes,
        stored.secretHash,
        stored.createdAt,
        stored.expiresAt ?? null,
        stored.oneTime === true,
        expiredTokenCutoff(now),
        stored.session === true,
        stored.person ?? null,
        stored.groups ?? null,
        stored.principal ?? null,
      ],
    );
    return { token, record: recordOf(stored) };
  }

  async verify(token: string, now = new Date()): Promise<TokenRecord | undefined> {
    const parsed = parseToken(token);
    if (!parsed) return undefined;
    const { rows } = await this.#database.query<TokenRow>(`SELECT ${columns} FROM ${this.#database.schema}.server_tokens WHERE token_id = $1`, [parsed.id]);
    const stored = rows[0] && storedOf(rows[0]);
    return bearerRecord(stored, parsed.secret, now);
  }

  /**
   * One conditional update: of two redeems of a code, at any replicas, only the first finds it
   * unrevoked. The hash is compared by the database: it is of a 256-bit random secret, so its
   * comparison's timing tells nothing usable.
   */
  async redeem(code: string, now = new Date()): Promise<TokenRecord | undefined> {
    const parsed = parseToken(code);
    if (!parsed) return undefined;
    const { rows } = await this.#database.query<TokenRow>(
      `UPDATE ${this.#database.schema}.server_tokens SET revoked_at = $3
       WHERE token_id = $1 AND secret_hash = $2 AND one_time AND revoked_at IS NULL AND expires_at > $3
       RETURNING ${columns}`,
      [parsed.id, secretHashOf(parsed.secret), now.toISOString()],
    );
    return rows[0] && recordOf(storedOf(rows[0]));
  }

  async list(): Promise<TokenRecord[]> {
    const { rows } = await this.#database.query<TokenRow>(`SELECT ${columns} FROM ${this.#database.schema}.server_tokens ORDER BY created_at, token_id`);
    return rows.map((row) => recordOf(storedOf(row)));
  }

  async hasLiveTokens(): Promise<boolean> {
    const { rows } = await this.#database.query(
      `SELECT 1 FROM ${this.#database.schema}.server_tokens WHERE revoked_at IS NULL AND NOT one_time AND (expires_at IS NULL OR expires_at > $1) LIMIT 1`,
      [new Date().toISOString()],
    );
    return rows.length > 0;
  }

  async revoke(id: string, now = new Date()): Promise<TokenRecord> {
    // A second revoke keeps the first time, as the token file does.
    const { rows } = await this.#database.query<TokenRow>(
      `UPDATE ${this.#database.schema}.server_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE token_id = $1 RETURNING ${columns}`,
      [id, now.toISOString()],
    );
    if (!rows[0]) throw unknownToken(id);
    return recordOf(storedOf(rows[0]));
  }

  /**
   * Adds tokens of a token file (hashes as they are: a token keeps working), but none whose id is
   * here already, so that a token revoked here stays revoked however often the file is imported.
   * Returns how many were added.
   */
  async import(tokens: readonly StoredToken[]): Promise<number> {
    if (tokens.length === 0) return 0;
    const { rowCount } = await this.#database.query(
      `INSERT INTO ${this.#database.schema}.server_tokens (${columns})
       SELECT token_id, name, ARRAY(SELECT jsonb_array_elements_text(scopes)), secret_hash, created_at, revoked_at, expires_at, one_time, session, person, ARRAY(SELECT jsonb_array_elements_text(groups)), principal
       FROM jsonb_to_recordset($1::jsonb) AS file (token_id text, name text, scopes jsonb, secret_hash text, created_at text, revoked_at text, expires_at text, one_time boolean, session boolean, person text, groups jsonb, principal text)
       ON CONFLICT (token_id) DO NOTHING`,
      [
        JSON.stringify(
          tokens.map((token) => ({
            token_id: token.id,
            name: token.name,
            scopes: token.scopes,
            secret_hash: token.secretHash,
            created_at: token.createdAt,
            revoked_at: token.revokedAt ?? null,
            expires_at: token.expiresAt ?? null,
            one_time: token.oneTime === true,
            session: token.session === true,
            person: token.person ?? null,
            groups: token.groups ?? [],
            principal: token.principal ?? null,
          })),
        ),
      ],
    );
    return rowCount;
  }

  async close(): Promise<void> {
    if (this.#closeDatabase) await this.#database.close();
  }
}

function storedOf(row: TokenRow): StoredToken {
  return {
    id: row.token_id,
    name: row.name,
    scopes: row.scopes as TokenScope[],
    secretHash: row.secret_hash,
    createdAt: row.created_at,
    ...(row.revoked_at === null ? {} : { revokedAt: row.revoked_at }),
    ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
    ...(row.one_time ? { oneTime: true as const } : {}),
    ...(row.session ? { session: true as const } : {}),
    ...(row.person === null ? {} : { person: row.person }),
    ...(row.groups === null || row.groups.length === 0 ? {} : { groups: row.groups }),
    ...(row.principal === null ? {} : { principal: row.principal }),
  };
}
