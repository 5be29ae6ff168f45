import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { CipherContext, CipherEnvelope, CipherV1 } from '@cairn/core';
import { CairnError, canonicalJsonBytes } from '@cairn/protocol';

/** Settings of `createInMemoryCipher`. */
export interface InMemoryCipherSettings {
  /** The 32-byte AES-256 key; a random one when omitted. Share it to decrypt across instances. */
  readonly key?: Uint8Array;
}

const algorithm = 'A256GCM';
const ivBytes = 12;
const tagBytes = 16;

/**
 * CipherV1 with AES-256-GCM and a key held in memory. The context is bound as additional
 * authenticated data as `canonicalJson(context)`, so a changed, added or removed entry fails
 * authentication exactly as it would with a KMS encryption context, and key order does not matter.
 */
export class InMemoryCipher implements CipherV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'in-memory';
  readonly #key: Buffer;
  readonly #keyId: string;

  constructor(settings: InMemoryCipherSettings = {}) {
    const key = settings.key ?? randomBytes(32);
    if (key.byteLength !== 32) {
      throw new CairnError('CAIRN_CONFIG_INVALID', `[cairn] [conformance] invalid setting "key": expected 32 bytes, got ${key.byteLength}`);
    }
    this.#key = Buffer.from(key);
    this.#keyId = `sha256:${createHash('sha256').update(this.#key).digest('hex').slice(0, 16)}`;
  }

  async encrypt(plaintext: Uint8Array, context: CipherContext): Promise<CipherEnvelope> {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: tagBytes });
    cipher.setAAD(additionalData(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      version: 1,
      algorithm,
      keyId: this.#keyId,
      iv: iv.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
    };
  }

  async decrypt(envelope: CipherEnvelope, context: CipherContext): Promise<Uint8Array> {
    try {
      const iv = Buffer.from(envelope.iv, 'base64');
      const tag = Buffer.from(envelope.tag, 'base64');
      // Node accepts short tags unless told the length: a 4-byte tag would be forgeable.
      if (envelope.algorithm !== algorithm || iv.byteLength !== ivBytes || tag.byteLength !== tagBytes) throw new Error('malformed envelope');
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: tagBytes });
      decipher.setAAD(additionalData(context));
      decipher.setAuthTag(tag);
      const plaintext = Buffer.concat([decipher.update(Buffer.from(envelope.ciphertext, 'base64')), decipher.final()]);
      return new Uint8Array(plaintext);
    } catch (error) {
      throw new CairnError(
        'CAIRN_CIPHER_DECRYPT_FAILED',
        '[cairn] [conformance] decryption failed: the envelope was altered, or the context or key differs from encryption',
        { cause: error },
      );
    }
  }
}

/** Builds an in-memory cipher. */
export function createInMemoryCipher(settings: InMemoryCipherSettings = {}): InMemoryCipher {
  return new InMemoryCipher(settings);
}

/** The AAD of a context: its canonical JSON (RFC 8785), so key order never matters. */
function additionalData(context: CipherContext): Uint8Array {
  return canonicalJsonBytes(context);
}
