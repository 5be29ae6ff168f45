import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { CairnError } from '@cairn/protocol';

/** What a gateway credential lets its holder do: call these models, for this attempt, until then. */
export interface CredentialClaims {
  /** The attempt (`<runId>/<itemId>/<attempt>`). */
  readonly executionId: string;
  /** The models it may call; a call naming another is refused. */
  readonly models: readonly string[];
  /** When it stops working (ms since the epoch), whatever becomes of the attempt. */
  readonly expiresAt: number;
}

const prefix = 'cgw1';

/**
 * Short-lived credentials of the model gateway (ADR 0033): an HMAC-SHA256 over the claims, under
 * a key only the server holds, so checking one needs no table and no database round trip. The
 * claims are not secret (an attempt id, model names); the key is. A credential is one attempt's
 * alone and dies with it: the gateway also checks that the attempt still runs.
 */
export class AttemptCredentials {
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length < 32) throw new Error('a gateway credential key must be at least 32 bytes');
    this.#key = Buffer.from(key);
  }

  /**
   * The key in `path`, made (32 random bytes, mode 0600) when there is none yet. Replicas that share
   * one gateway share this file (mounted from a secret store), so each accepts the others' credentials.
   */
  static async fromKeyFile(path: string): Promise<AttemptCredentials> {
    try {
      return new AttemptCredentials(await readFile(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new CairnError('CAIRN_CONFIG_INVALID', `The model gateway cannot read its credential key ${path}: ${(error as Error).message}.`, {
          path: 'gateway.credentialKeyFile',
          cause: error,
        });
    }
    // Written whole under a name of its own, then linked into place: of two servers starting at once
    // on one folder, one key wins and the other reads it whole (never a file still being written).
    const written = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
    await writeFile(written, randomBytes(32), { mode: 0o600, flag: 'wx' });
    try {
      await link(written, path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    } finally {
      await unlink(written).catch(() => undefined);
    }
    return new AttemptCredentials(await readFile(path));
  }

  mint(claims: CredentialClaims): string {
    const payload = Buffer.from(JSON.stringify({ e: claims.executionId, m: claims.models, x: claims.expiresAt })).toString('base64url');
    return `${prefix}.${payload}.${this.#mac(payload)}`;
  }

  /** The claims of a credential this key minted and that has not expired; undefined otherwise, with no hint why. */
  verify(credential: string, now = Date.now()): CredentialClaims | undefined {
    const [version, payload, mac, extra] = credential.split('.');
    if (version !== prefix || payload === undefined || mac === undefined || extra !== undefined) return undefined;
    const expected = Buffer.from(this.#mac(payload));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let parsed: { e?: unknown; m?: unknown; x?: unknown };
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof parsed;
    } catch {
      return undefined;
    }
    const { e, m, x } = parsed;
    if (typeof e !== 'string' || !Array.isArray(m) || !m.every((model) => typeof model === 'string') || typeof x !== 'number') return undefined;
    if (x <= now) return undefined;
    return { executionId: e, models: m as string[], expiresAt: x };
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#key).update(`${prefix}.${payload}`).digest('base64url');
  }
}
