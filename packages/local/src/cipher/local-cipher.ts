import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import type { CipherContext, CipherEnvelope, CipherV1 } from '@cairn/core';
import { CairnError, canonicalJsonBytes, parseSettings } from '@cairn/protocol';
import { z } from 'zod';
import { keyFileInvalid, readKeyFile } from '../signer/key-file.ts';
import { filePathSchema } from '../storage/file-path-schema.ts';

/** Settings of `createLocalCipher`, checked at construction; errors name `local.cipher.<option>`. */
export const localCipherSettingsSchema = z.strictObject({
  /** The AES-256 key: exactly 32 random bytes, mode 0600 (relative to the working directory). */
  keyFile: filePathSchema,
  /** Generate the key file when it does not exist (never replaces one that does). */
  create: z.boolean({ error: 'must be true or false' }).default(false),
});

export type LocalCipherSettings = z.input<typeof localCipherSettingsSchema>;

const algorithm = 'A256GCM';
const keyBytes = 32;
const ivBytes = 12;
const tagBytes = 16;

/**
 * CipherV1 with AES-256-GCM and a 32-byte key in a local file (loaded once, at construction).
 * Every `encrypt` draws a fresh 12-byte IV, and the canonical JSON of the context is the additional
 * authenticated data, so a ciphertext moved to another context, or altered anywhere, does not
 * decrypt. `keyId` is an HMAC of the key (never the key, nor a plain hash of it), so envelopes say
 * which key file they need.
 */
export class LocalCipher implements CipherV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'local-key-file';
  /** The key file, absolute. */
  readonly keyFile: string;
  /** Names the key in envelopes: `local:` and 32 hex digits of HMAC-SHA256(key, a fixed label). */
  readonly keyId: string;
  // A KeyObject, not a Buffer: it prints as `SecretKeyObject`, so a stray log line shows no key.
  readonly #key: KeyObject;

  constructor(settings: LocalCipherSettings) {
    const parsed = parseSettings(localCipherSettingsSchema, settings, 'local.cipher');
    this.keyFile = resolve(parsed.keyFile);
    const option = 'local.cipher.keyFile';
    const key = readKeyFile({
      file: this.keyFile,
      create: parsed.create,
      option,
      generate: () => randomBytes(keyBytes),
      // The cipher's contract has no error of its own for a key it cannot load: it is a setting.
      unreadable: (message, cause) => new CairnError('CAIRN_CONFIG_INVALID', message, { path: option, cause }),
    });
    try {
      if (key.byteLength !== keyBytes) {
        throw keyFileInvalid(
          option,
          this.keyFile,
          `holds ${key.byteLength} bytes; a local cipher key is exactly ${keyBytes} random bytes (make one with \`head -c 32 /dev/urandom > file && chmod 600 file\`, or set "create: true")`,
        );
      }
      this.#key = createSecretKey(key);
      this.keyId = `local:${createHmac('sha256', key).update('cairn.local-cipher.key-id').digest('hex').slice(0, 32)}`;
    } finally {
      key.fill(0);
    }
  }

  async encrypt(plaintext: Uint8Array, context: CipherContext): Promise<CipherEnvelope> {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: tagBytes });
    cipher.setAAD(canonicalJsonBytes(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      version: 1,
      algorithm,
      keyId: this.keyId,
      iv: iv.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
    };
  }

  async decrypt(envelope: CipherEnvelope, context: CipherContext): Promise<Uint8Array> {
    const problem = envelopeProblem(envelope, this.keyId);
    if (problem !== undefined) throw decryptFailed(problem);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(envelope.iv, 'base64'), { authTagLength: tagBytes });
      decipher.setAAD(canonicalJsonBytes(context));
      decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
      const plaintext = Buffer.concat([decipher.update(Buffer.from(envelope.ciphertext, 'base64')), decipher.final()]);
      return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
    } catch (error) {
      throw decryptFailed('it does not authenticate: the envelope was altered, or the context differs from the one it was encrypted with', error);
    }
  }
}

/** Builds a key-file cipher; throws CAIRN_CONFIG_INVALID naming `local.cipher.<option>`. */
export function createLocalCipher(settings: LocalCipherSettings): LocalCipher {
  return new LocalCipher(settings);
}

/** Why an envelope cannot be one this cipher made, checked before any decryption. */
function envelopeProblem(envelope: CipherEnvelope, keyId: string): string | undefined {
  if (typeof envelope !== 'object' || envelope === null) return 'it is not an envelope object';
  if (envelope.version !== 1 || envelope.algorithm !== algorithm) return `it is not a version 1 ${algorithm} envelope`;
  if (envelope.keyId !== keyId)
    return `it was encrypted with key ${JSON.stringify(envelope.keyId)}, and this cipher holds ${keyId}: decrypt with the key file that encrypted it`;
  if (envelope.encryptedKey !== undefined) return 'it carries an encryptedKey, which a local cipher never writes';
  // Node decodes base64 leniently (it skips what it cannot read): only exact, canonical base64 passes.
  const fields = { iv: ivBytes, tag: tagBytes, ciphertext: undefined } as const;
  for (const [field, length] of Object.entries(fields)) {
    const text = (envelope as unknown as Record<string, unknown>)[field];
    if (typeof text !== 'string' || Buffer.from(text, 'base64').toString('base64') !== text) return `its ${field} is not base64`;
    if (length !== undefined && Buffer.from(text, 'base64').byteLength !== length) return `its ${field} is not ${length} bytes`;
  }
  return undefined;
}

function decryptFailed(why: string, cause?: unknown): CairnError {
  return new CairnError('CAIRN_CIPHER_DECRYPT_FAILED', `[cairn] [local] the envelope did not decrypt: ${why}.`, cause === undefined ? {} : { cause });
}
