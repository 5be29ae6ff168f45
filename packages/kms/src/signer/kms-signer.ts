import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { Digest, SignerV1 } from '@cairn/core';
import { CairnError, isCairnError, parseSettings, sha256Digest } from '@cairn/protocol';
import { z } from 'zod';
import { describeKmsKey, kmsClientFor, kmsKeySettingsShape, type KmsKeySettings } from '../client/kms-connection.ts';
import { kmsErrorName, kmsFailure, type KmsOperation } from '../client/kms-errors.ts';
import { withKmsRetries } from '../client/kms-retries.ts';
import { failedCheck, probeReport, type KmsProbeCheck, type KmsProbeReport } from '../probe/kms-probe-report.ts';

/** Settings of `createKmsSigner`, checked at construction; errors name `kms.signer.<option>`. */
export const kmsSignerSettingsSchema = z.strictObject(kmsKeySettingsShape);

export type KmsSignerSettings = z.input<typeof kmsSignerSettingsSchema>;

/** The public half of the KMS key, fetched once. */
interface LoadedKey {
  readonly spki: Uint8Array;
  readonly key: KeyObject;
  readonly keyId: Digest;
  /** The key's ARN as KMS answered it: an alias resolves to it. */
  readonly arn: string | undefined;
}

const keySpec = 'ECC_NIST_P256';
const keyUsage = 'SIGN_VERIFY';
const signingAlgorithm = 'ECDSA_SHA_256';
/** KMS's answers to GetPublicKey or Sign on a key that is not a signing key. */
const wrongKeyNames = new Set(['UnsupportedOperationException', 'InvalidKeyUsageException']);
/** The errors this signer raised because the key is of another spec or usage, for `probe()`. */
const wrongKeyErrors = new WeakSet<CairnError>();
const wrongKeyFix =
  'create an asymmetric key with `aws kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY` and point keyId at it (Cairn signs checkpoints with ECDSA P-256 and SHA-256)';

/**
 * SignerV1 with an asymmetric AWS KMS key (ECC_NIST_P256, SIGN_VERIFY): the private key never
 * leaves KMS. A message is hashed here with SHA-256 and only the digest is sent (`MessageType:
 * DIGEST`), so messages of any size sign in one small request and never reach KMS or its logs.
 * The public key is fetched once with GetPublicKey and checked to be a P-256 signing key; `keyId`
 * is `sha256:` and the hex SHA-256 of its SPKI DER, the rule every signer follows, so a bundle
 * verifier pins it like a key-file key. Each signature is verified against that public key before
 * it is returned: an alias moved to another key is caught at the first checkpoint, not by an
 * auditor later.
 */
export class KmsSigner implements SignerV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'aws-kms';
  readonly algorithm = 'ecdsa-p256-sha256';
  /** The key as configured (id, ARN or alias). */
  readonly kmsKeyId: string;
  readonly #settings: KmsKeySettings;
  readonly #client: KMSClient;
  readonly #where: string;
  #loaded: Promise<LoadedKey> | undefined;

  constructor(settings: KmsSignerSettings) {
    this.#settings = parseSettings(kmsSignerSettingsSchema, settings, 'kms.signer');
    this.kmsKeyId = this.#settings.keyId;
    this.#client = kmsClientFor(this.#settings);
    this.#where = describeKmsKey(this.#settings);
  }

  async keyId(): Promise<Digest> {
    return (await this.#publicKey()).keyId;
  }

  async publicKey(): Promise<Uint8Array> {
    return Uint8Array.from((await this.#publicKey()).spki);
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    if (!(message instanceof Uint8Array)) {
      throw new CairnError('CAIRN_SIGNER_FAILED', `[cairn] [kms] signing with ${this.#where} failed: pass the message as bytes (a Uint8Array).`, {
        path: 'kms.signer.keyId',
      });
    }
    const loaded = await this.#publicKey();
    const digest = createHash('sha256').update(message).digest();
    const response = await this.#call('Sign', () =>
      this.#client.send(new SignCommand({ KeyId: this.kmsKeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: signingAlgorithm })),
    );
    if (!(response.Signature instanceof Uint8Array) || response.Signature.byteLength === 0) {
      throw this.#failure(`KMS answered Sign without a signature. Fix: check that the endpoint speaks the KMS API`);
    }
    const signature = new Uint8Array(response.Signature);
    if (!verify('sha256', message, { key: loaded.key, dsaEncoding: 'der' }, signature)) {
      throw this.#failure(
        `the signature KMS returned${response.KeyId ? ` (from ${response.KeyId})` : ''} does not verify with the public key fetched at start${loaded.arn ? ` (of ${loaded.arn})` : ''}: the alias or key id now names another key. Fix: point keyId back at the key verifiers trust, or restart with the new key and give verifiers its key id`,
      );
    }
    return signature;
  }

  /**
   * Checks that the key can do what this signer asks of it, for `cairn doctor`: GetPublicKey
   * answers a P-256 SIGN_VERIFY key (kms:GetPublicKey), and a test digest signs and verifies
   * (kms:Sign). Never throws: each check says pass or fail, with the fix.
   */
  async probe(): Promise<KmsProbeReport> {
    const checks: KmsProbeCheck[] = [];
    let loaded: LoadedKey;
    try {
      loaded = await this.#publicKey();
      checks.push({ name: 'kms:GetPublicKey', status: 'pass', detail: `the public key of ${loaded.arn ?? this.kmsKeyId} is readable` });
      checks.push({ name: 'key-spec', status: 'pass', detail: `the key is ${keySpec} with usage ${keyUsage} and allows ${signingAlgorithm}` });
    } catch (error) {
      const failure = asCairnError(error, this.#where);
      const wrongKey = wrongKeyErrors.has(failure) || wrongKeyNames.has(kmsErrorName(failure.cause) ?? '');
      checks.push(
        wrongKey
          ? { name: 'kms:GetPublicKey', status: 'pass', detail: 'kms:GetPublicKey is allowed (KMS answered about the key itself)' }
          : failedCheck('kms:GetPublicKey', `GetPublicKey on ${this.kmsKeyId} failed`, failure),
      );
      checks.push(wrongKey ? failedCheck('key-spec', 'the key is not one Cairn can sign checkpoints with', failure) : skipped('key-spec', 'kms:GetPublicKey'));
      checks.push(skipped('kms:Sign', wrongKey ? 'key-spec' : 'kms:GetPublicKey'));
      return probeReport(this.#where, checks);
    }
    try {
      await this.sign(new TextEncoder().encode('cairn doctor: test signature'));
      checks.push({ name: 'kms:Sign', status: 'pass', detail: `a test digest signed with ${signingAlgorithm} verifies with the public key` });
    } catch (error) {
      checks.push(failedCheck('kms:Sign', `Sign with ${this.kmsKeyId} failed`, asCairnError(error, this.#where)));
    }
    return probeReport(this.#where, checks);
  }

  /** The public key, fetched once; a failed fetch is not remembered, so the next call tries again. */
  #publicKey(): Promise<LoadedKey> {
    this.#loaded ??= this.#fetchPublicKey().catch((error: unknown) => {
      this.#loaded = undefined;
      throw error;
    });
    return this.#loaded;
  }

  async #fetchPublicKey(): Promise<LoadedKey> {
    const response = await this.#call('GetPublicKey', () => this.#client.send(new GetPublicKeyCommand({ KeyId: this.kmsKeyId })));
    if (response.KeySpec !== keySpec || response.KeyUsage !== keyUsage) {
      throw wrongKey(
        this.#failure(
          `the key is ${response.KeySpec ?? 'of an unknown spec'} with usage ${response.KeyUsage ?? 'unknown'}, not ${keySpec} with ${keyUsage}. Fix: ${wrongKeyFix}`,
        ),
      );
    }
    if (response.SigningAlgorithms !== undefined && !response.SigningAlgorithms.includes(signingAlgorithm)) {
      throw wrongKey(this.#failure(`the key does not allow ${signingAlgorithm} (it allows ${response.SigningAlgorithms.join(', ')}). Fix: ${wrongKeyFix}`));
    }
    if (!(response.PublicKey instanceof Uint8Array) || response.PublicKey.byteLength === 0) {
      throw this.#failure('KMS answered GetPublicKey without a public key. Fix: check that the endpoint speaks the KMS API');
    }
    const spki = new Uint8Array(response.PublicKey);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    } catch (error) {
      throw this.#failure('the public key KMS answered is not a DER SubjectPublicKeyInfo. Fix: check that the endpoint speaks the KMS API', error);
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw wrongKey(this.#failure(`the public key KMS answered is not a P-256 key. Fix: ${wrongKeyFix}`));
    }
    return { spki, key, keyId: sha256Digest(spki), arn: response.KeyId };
  }

  async #call<T>(operation: KmsOperation, send: () => Promise<T>): Promise<T> {
    try {
      return await withKmsRetries(send, { maxAttempts: this.#settings.maxAttempts });
    } catch (error) {
      throw kmsFailure(error, operation, this.#where, 'CAIRN_SIGNER_FAILED', 'kms.signer.keyId');
    }
  }

  #failure(problem: string, cause?: unknown): CairnError {
    return new CairnError('CAIRN_SIGNER_FAILED', `[cairn] [kms] ${this.#where}: ${problem}.`, {
      path: 'kms.signer.keyId',
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** Builds a KMS signer; throws CAIRN_CONFIG_INVALID naming `kms.signer.<option>`. Makes no request. */
export function createKmsSigner(settings: KmsSignerSettings): KmsSigner {
  return new KmsSigner(settings);
}

function wrongKey(error: CairnError): CairnError {
  wrongKeyErrors.add(error);
  return error;
}

function skipped(name: string, after: string): KmsProbeCheck {
  return { name, status: 'skipped', detail: `not tried: ${after} failed` };
}

function asCairnError(error: unknown, where: string): CairnError {
  if (isCairnError(error)) return error;
  return new CairnError('CAIRN_SIGNER_FAILED', `[cairn] [kms] ${where}: ${(error as Error)?.message ?? String(error)}.`, { cause: error });
}
