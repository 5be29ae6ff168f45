import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { DecryptCommand, DescribeKeyCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { CipherContext, CipherEnvelope, CipherV1 } from '@cairn/core';
import { CairnError, canonicalJsonBytes, isCairnError, parseSettings } from '@cairn/protocol';
import { z } from 'zod';
import { describeKmsKey, kmsClientFor, kmsKeySettingsShape, type KmsKeySettings } from '../client/kms-connection.ts';
import { kmsErrorName, kmsFailure, type KmsOperation } from '../client/kms-errors.ts';
import { withKmsRetries } from '../client/kms-retries.ts';
import { failedCheck, probeReport, type KmsProbeCheck, type KmsProbeReport } from '../probe/kms-probe-report.ts';

/** Settings of `createKmsCipher`, checked at construction; errors name `kms.cipher.<option>`. */
export const kmsCipherSettingsSchema = z.strictObject(kmsKeySettingsShape);

export type KmsCipherSettings = z.input<typeof kmsCipherSettingsSchema>;

const algorithm = 'aes-256-gcm+kms';
const dataKeyBytes = 32;
const ivBytes = 12;
const tagBytes = 16;
/**
 * KMS errors that say this envelope cannot be decrypted with this key and context (not that KMS is
 * unwell). A context KMS refuses as malformed (ValidationException) cannot be the one the envelope
 * was made with, since KMS accepted that one.
 */
const notThisEnvelope = new Set(['InvalidCiphertextException', 'IncorrectKeyException', 'ValidationException']);

/**
 * CipherV1 by envelope encryption under a symmetric AWS KMS key: every `encrypt` asks KMS for a
 * fresh AES-256 data key (GenerateDataKey), encrypts with it here (AES-256-GCM, fresh 12-byte IV),
 * zeroes it, and keeps only KMS's encrypted copy in the envelope; `decrypt` has KMS decrypt that
 * copy (Decrypt) and zeroes it after use. The context binds twice: as the KMS encryption context
 * (so KMS refuses to release the data key under another context, and CloudTrail records which
 * secret was used) and, as canonical JSON, as the AES-GCM additional data. AWS logs encryption
 * contexts in plaintext, so a context holds names (`{ secret: 'GITHUB_TOKEN', version: '3' }`),
 * never values. The plaintext never reaches KMS.
 */
export class KmsCipher implements CipherV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'aws-kms';
  /** The key as configured (id, ARN or alias). */
  readonly kmsKeyId: string;
  readonly #settings: KmsKeySettings;
  readonly #client: KMSClient;
  readonly #where: string;

  constructor(settings: KmsCipherSettings) {
    this.#settings = parseSettings(kmsCipherSettingsSchema, settings, 'kms.cipher');
    this.kmsKeyId = this.#settings.keyId;
    this.#client = kmsClientFor(this.#settings);
    this.#where = describeKmsKey(this.#settings);
  }

  async encrypt(plaintext: Uint8Array, context: CipherContext): Promise<CipherEnvelope> {
    const encryptionContext = kmsEncryptionContext(context);
    const response = await this.#call('GenerateDataKey', () =>
      this.#client.send(new GenerateDataKeyCommand({ KeyId: this.kmsKeyId, KeySpec: 'AES_256', ...encryptionContext })),
    );
    const dataKey = response.Plaintext;
    try {
      if (!(dataKey instanceof Uint8Array) || dataKey.byteLength !== dataKeyBytes || !(response.CiphertextBlob instanceof Uint8Array)) {
        throw this.#unavailable(
          'KMS answered GenerateDataKey without a 32-byte data key and its encrypted copy. Fix: check that the endpoint speaks the KMS API',
        );
      }
      const iv = randomBytes(ivBytes);
      const cipher = createCipheriv('aes-256-gcm', dataKey, iv, { authTagLength: tagBytes });
      cipher.setAAD(canonicalJsonBytes(context));
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return {
        version: 1,
        algorithm,
        // The key's ARN as KMS answered: says which key decrypts it even when keyId is an alias.
        keyId: response.KeyId ?? this.kmsKeyId,
        iv: iv.toString('base64'),
        ciphertext: ciphertext.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        encryptedKey: Buffer.from(response.CiphertextBlob).toString('base64'),
      };
    } finally {
      if (dataKey instanceof Uint8Array) dataKey.fill(0);
    }
  }

  async decrypt(envelope: CipherEnvelope, context: CipherContext): Promise<Uint8Array> {
    const problem = envelopeProblem(envelope);
    if (problem !== undefined) throw decryptFailed(problem);
    const encryptionContext = kmsEncryptionContext(context);
    let response;
    try {
      response = await withKmsRetries(
        () =>
          this.#client.send(new DecryptCommand({ KeyId: this.kmsKeyId, CiphertextBlob: Buffer.from(envelope.encryptedKey!, 'base64'), ...encryptionContext })),
        { maxAttempts: this.#settings.maxAttempts },
      );
    } catch (error) {
      if (notThisEnvelope.has(kmsErrorName(error) ?? '')) {
        const name = kmsErrorName(error);
        const why =
          name === 'IncorrectKeyException'
            ? `its data key was encrypted under ${envelope.keyId}, and this cipher decrypts with ${this.#where}: decrypt with the key that encrypted it`
            : name === 'ValidationException'
              ? `KMS refused the context as malformed (ValidationException), so it differs from the one it was encrypted with: ${(error as Error).message}`
              : `KMS refused its data key (InvalidCiphertextException): the envelope was altered, or the context differs from the one it was encrypted with`;
        throw decryptFailed(why, error);
      }
      throw kmsFailure(error, 'Decrypt', this.#where, 'CAIRN_CIPHER_UNAVAILABLE', 'kms.cipher.keyId');
    }
    const dataKey = response.Plaintext;
    try {
      if (!(dataKey instanceof Uint8Array) || dataKey.byteLength !== dataKeyBytes) {
        throw this.#unavailable('KMS answered Decrypt without a 32-byte data key. Fix: check that the endpoint speaks the KMS API');
      }
      const decipher = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(envelope.iv, 'base64'), { authTagLength: tagBytes });
      decipher.setAAD(canonicalJsonBytes(context));
      decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
      const plaintext = Buffer.concat([decipher.update(Buffer.from(envelope.ciphertext, 'base64')), decipher.final()]);
      return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
    } catch (error) {
      if (isCairnError(error)) throw error;
      throw decryptFailed('it does not authenticate: the envelope was altered, or the context differs from the one it was encrypted with', error);
    } finally {
      if (dataKey instanceof Uint8Array) dataKey.fill(0);
    }
  }

  /**
   * Checks that the key can do what this cipher asks of it, for `cairn doctor`: DescribeKey says it
   * is an enabled SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key (skipped when kms:DescribeKey is not
   * granted: the cipher does not need it), GenerateDataKey gives a data key (kms:GenerateDataKey),
   * Decrypt gives the same key back under the same context and refuses it under another
   * (kms:Decrypt). Never throws: each check says pass or fail, with the fix.
   */
  async probe(): Promise<KmsProbeReport> {
    const checks: KmsProbeCheck[] = [await this.#probeKeySpec()];
    const context = { purpose: 'cairn-doctor-probe' };
    let generated;
    try {
      generated = await this.#call('GenerateDataKey', () =>
        this.#client.send(new GenerateDataKeyCommand({ KeyId: this.kmsKeyId, KeySpec: 'AES_256', EncryptionContext: context })),
      );
      if (
        !(generated.Plaintext instanceof Uint8Array) ||
        generated.Plaintext.byteLength !== dataKeyBytes ||
        !(generated.CiphertextBlob instanceof Uint8Array)
      ) {
        throw this.#unavailable(
          'KMS answered GenerateDataKey without a 32-byte data key and its encrypted copy. Fix: check that the endpoint speaks the KMS API',
        );
      }
      checks.push({ name: 'kms:GenerateDataKey', status: 'pass', detail: 'a 256-bit data key was generated under the key' });
    } catch (error) {
      checks.push(failedCheck('kms:GenerateDataKey', `GenerateDataKey with ${this.kmsKeyId} failed`, asCairnError(error, this.#where)));
      checks.push({ name: 'kms:Decrypt', status: 'skipped', detail: 'not tried: kms:GenerateDataKey failed' });
      return probeReport(this.#where, checks);
    }
    const expected = generated.Plaintext;
    try {
      const decrypted = await this.#call('Decrypt', () =>
        this.#client.send(new DecryptCommand({ KeyId: this.kmsKeyId, CiphertextBlob: generated.CiphertextBlob, EncryptionContext: context })),
      );
      const same =
        decrypted.Plaintext instanceof Uint8Array && decrypted.Plaintext.byteLength === dataKeyBytes && timingSafeEqual(decrypted.Plaintext, expected);
      decrypted.Plaintext?.fill(0);
      if (!same) throw this.#unavailable('Decrypt answered another data key than GenerateDataKey made. Fix: check that the endpoint speaks the KMS API');
      const refused = await this.#client
        .send(
          new DecryptCommand({ KeyId: this.kmsKeyId, CiphertextBlob: generated.CiphertextBlob, EncryptionContext: { ...context, purpose: 'another context' } }),
        )
        .then(
          (answer) => (answer.Plaintext?.fill(0), false),
          (error: unknown) => kmsErrorName(error) === 'InvalidCiphertextException',
        );
      if (!refused) {
        throw this.#unavailable(
          'Decrypt released the data key under another encryption context than it was made with. Fix: use AWS KMS or an endpoint that enforces encryption contexts',
        );
      }
      checks.push({ name: 'kms:Decrypt', status: 'pass', detail: 'the data key decrypts under its context and is refused under another' });
    } catch (error) {
      checks.push(failedCheck('kms:Decrypt', `Decrypt with ${this.kmsKeyId} failed`, asCairnError(error, this.#where)));
    } finally {
      expected.fill(0);
    }
    return probeReport(this.#where, checks);
  }

  async #probeKeySpec(): Promise<KmsProbeCheck> {
    let metadata;
    try {
      metadata = (await this.#call('DescribeKey', () => this.#client.send(new DescribeKeyCommand({ KeyId: this.kmsKeyId })))).KeyMetadata;
    } catch (error) {
      if (kmsErrorName((error as { cause?: unknown }).cause) === 'AccessDeniedException') {
        return {
          name: 'key-spec',
          status: 'skipped',
          detail: 'kms:DescribeKey is not granted (the cipher does not need it): the key spec is checked by GenerateDataKey',
        };
      }
      return failedCheck('key-spec', `DescribeKey on ${this.kmsKeyId} failed`, asCairnError(error, this.#where));
    }
    const spec = metadata?.KeySpec;
    const usage = metadata?.KeyUsage;
    if (spec !== 'SYMMETRIC_DEFAULT' || usage !== 'ENCRYPT_DECRYPT') {
      return failedCheck(
        'key-spec',
        `the key is ${spec ?? 'of an unknown spec'} with usage ${usage ?? 'unknown'}`,
        this.#unavailable(
          `the key is ${spec ?? 'of an unknown spec'} with usage ${usage ?? 'unknown'}, not SYMMETRIC_DEFAULT with ENCRYPT_DECRYPT. Fix: create a symmetric key with \`aws kms create-key\` (the defaults) and point keyId at it`,
        ),
      );
    }
    if (metadata?.KeyState !== undefined && metadata.KeyState !== 'Enabled') {
      return failedCheck(
        'key-spec',
        `the key is ${metadata.KeyState}`,
        this.#unavailable(`the key is ${metadata.KeyState}. Fix: enable it (\`aws kms enable-key --key-id …\`), or point keyId at an enabled key`),
      );
    }
    return { name: 'key-spec', status: 'pass', detail: 'the key is an enabled SYMMETRIC_DEFAULT key with usage ENCRYPT_DECRYPT' };
  }

  async #call<T>(operation: KmsOperation, send: () => Promise<T>): Promise<T> {
    try {
      return await withKmsRetries(send, { maxAttempts: this.#settings.maxAttempts });
    } catch (error) {
      throw kmsFailure(error, operation, this.#where, 'CAIRN_CIPHER_UNAVAILABLE', 'kms.cipher.keyId');
    }
  }

  #unavailable(problem: string): CairnError {
    return new CairnError('CAIRN_CIPHER_UNAVAILABLE', `[cairn] [kms] ${this.#where}: ${problem}.`, { path: 'kms.cipher.keyId' });
  }
}

/** Builds a KMS envelope cipher; throws CAIRN_CONFIG_INVALID naming `kms.cipher.<option>`. Makes no request. */
export function createKmsCipher(settings: KmsCipherSettings): KmsCipher {
  return new KmsCipher(settings);
}

/**
 * The context as a KMS encryption context, in canonical (sorted) key order, or nothing for an
 * empty one (KMS takes an absent context as the empty context). KMS compares contexts by content,
 * so the order only keeps requests and logs reproducible.
 */
function kmsEncryptionContext(context: CipherContext): { EncryptionContext?: Record<string, string> } {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new CairnError(
      'CAIRN_CIPHER_DECRYPT_FAILED',
      '[cairn] [kms] the cipher context is not an object of strings: pass names, e.g. { secret: "GITHUB_TOKEN" }.',
    );
  }
  const entries = Object.entries(context).sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
  for (const [key, value] of entries) {
    if (typeof value !== 'string') {
      throw new CairnError('CAIRN_CIPHER_DECRYPT_FAILED', `[cairn] [kms] the cipher context's "${key}" is not a string: a context holds names, as strings.`);
    }
  }
  return entries.length === 0 ? {} : { EncryptionContext: Object.fromEntries(entries) };
}

/** Why an envelope cannot be one this cipher made, checked before any request to KMS. */
function envelopeProblem(envelope: CipherEnvelope): string | undefined {
  if (typeof envelope !== 'object' || envelope === null) return 'it is not an envelope object';
  if (envelope.version !== 1 || envelope.algorithm !== algorithm) return `it is not a version 1 ${algorithm} envelope`;
  // Node decodes base64 leniently (it skips what it cannot read): only exact, canonical base64 passes.
  const fields = { iv: ivBytes, tag: tagBytes, ciphertext: undefined, encryptedKey: undefined } as const;
  for (const [field, length] of Object.entries(fields)) {
    const text = (envelope as unknown as Record<string, unknown>)[field];
    if (typeof text !== 'string' || Buffer.from(text, 'base64').toString('base64') !== text) return `its ${field} is missing or not base64`;
    if (length !== undefined && Buffer.from(text, 'base64').byteLength !== length) return `its ${field} is not ${length} bytes`;
  }
  if (envelope.encryptedKey === '') return 'its encryptedKey is empty';
  return undefined;
}

function decryptFailed(why: string, cause?: unknown): CairnError {
  return new CairnError('CAIRN_CIPHER_DECRYPT_FAILED', `[cairn] [kms] the envelope did not decrypt: ${why}.`, cause === undefined ? {} : { cause });
}

function asCairnError(error: unknown, where: string): CairnError {
  if (isCairnError(error)) return error;
  return new CairnError('CAIRN_CIPHER_UNAVAILABLE', `[cairn] [kms] ${where}: ${(error as Error)?.message ?? String(error)}.`, { cause: error });
}
