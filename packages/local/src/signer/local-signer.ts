import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import type { Digest, SignerV1 } from '@cairn/core';
import { CairnError, parseSettings, sha256Digest } from '@cairn/protocol';
import { z } from 'zod';
import { filePathSchema } from '../storage/file-path-schema.ts';
import { keyFileInvalid, readKeyFile } from './key-file.ts';

/** Settings of `createLocalSigner`, checked at construction; errors name `local.signer.<option>`. */
export const localSignerSettingsSchema = z.strictObject({
  /** The Ed25519 private key, PKCS#8 PEM, mode 0600 (relative to the working directory). */
  keyFile: filePathSchema,
  /** Generate the key file when it does not exist (never replaces one that does). */
  create: z.boolean({ error: 'must be true or false' }).default(false),
});

export type LocalSignerSettings = z.input<typeof localSignerSettingsSchema>;

/**
 * SignerV1 with an Ed25519 key in a local file. The key is loaded once, at construction, so a
 * missing, unprotected or wrong key stops the server at boot rather than at its first
 * checkpoint. `keyId` is `sha256:` and the hex SHA-256 of the SPKI DER public key, which anyone
 * holding the public key can recompute (`keyIdOf` in `@cairn/audit` computes the same).
 */
export class LocalSigner implements SignerV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'local-key-file';
  readonly algorithm = 'ed25519';
  /** The key file, absolute. */
  readonly keyFile: string;
  readonly #privateKey: KeyObject;
  readonly #publicKey: Uint8Array;
  readonly #keyId: Digest;

  constructor(settings: LocalSignerSettings) {
    const parsed = parseSettings(localSignerSettingsSchema, settings, 'local.signer');
    this.keyFile = resolve(parsed.keyFile);
    const option = 'local.signer.keyFile';
    const pem = readKeyFile({
      file: this.keyFile,
      create: parsed.create,
      option,
      generate: () => Buffer.from(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' })),
      unreadable: (message, cause) => new CairnError('CAIRN_SIGNER_FAILED', message, { path: this.keyFile, cause }),
    });
    try {
      this.#privateKey = createPrivateKey({ key: pem, format: 'pem' });
    } catch (error) {
      throw keyFileInvalid(option, this.keyFile, 'is not an unencrypted PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----")', error);
    } finally {
      pem.fill(0);
    }
    if (this.#privateKey.asymmetricKeyType !== 'ed25519') {
      throw keyFileInvalid(
        option,
        this.keyFile,
        `holds a ${this.#privateKey.asymmetricKeyType ?? 'non-asymmetric'} key; the local signer signs with Ed25519 only`,
      );
    }
    this.#publicKey = new Uint8Array(createPublicKey(this.#privateKey).export({ format: 'der', type: 'spki' }));
    this.#keyId = sha256Digest(this.#publicKey);
  }

  async keyId(): Promise<Digest> {
    return this.#keyId;
  }

  async publicKey(): Promise<Uint8Array> {
    return Uint8Array.from(this.#publicKey);
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    try {
      return new Uint8Array(sign(null, message, this.#privateKey));
    } catch (error) {
      throw new CairnError('CAIRN_SIGNER_FAILED', `[cairn] [local] signing with the key in ${this.keyFile} failed: pass the message as bytes (a Uint8Array).`, {
        path: this.keyFile,
        cause: error,
      });
    }
  }
}

/** Builds a key-file signer; throws CAIRN_CONFIG_INVALID naming `local.signer.<option>`. */
export function createLocalSigner(settings: LocalSignerSettings): LocalSigner {
  return new LocalSigner(settings);
}
