import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { Digest, KeyDelegation, PublicKeyRecord, SignerV1, StorageProviderV1 } from '@cairn/core';
import { keyIdOf, signKeyDelegation } from '@cairn/audit';
import { canonicalJsonBytes, delegationKey, sha256Digest } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import { engineActor } from '../engine-actor.ts';

export interface DelegatedManifestSignerSettings {
  /** The checkpoint signer: it signs the delegation statement, once. */
  readonly signer: SignerV1;
  /** Where the statement is stored (`delegations/<key id hex>.json`), for workers to read. */
  readonly storage: StorageProviderV1;
  readonly audit: AuditLog;
  readonly now: () => number;
}

/**
 * Signs dispatch manifests with an Ed25519 key made in this process (held in memory only, gone
 * when the process ends), so that dispatch never waits on the checkpoint signer (a KMS key: a
 * remote call, rate-limited, per signature). Before its first signature the key is introduced by
 * a delegation statement the checkpoint signer signs, stored by the key's id and recorded by a
 * `key.delegated` audit entry: one checkpoint-signer call per process, however many items run.
 * A failure to delegate (the signer or the storage down) fails that signature; the next one
 * tries again.
 */
export class DelegatedManifestSigner implements SignerV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'cairn-delegated';
  readonly algorithm = 'ed25519';
  readonly #settings: DelegatedManifestSignerSettings;
  readonly #privateKey: KeyObject;
  readonly #publicKey: Uint8Array;
  readonly #keyId: Digest;
  #delegated: Promise<void> | undefined;
  /** The signed statement, kept once made: a retry stores these same bytes, never a second statement. */
  #statement: Uint8Array | undefined;

  constructor(settings: DelegatedManifestSignerSettings) {
    this.#settings = settings;
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    this.#privateKey = privateKey;
    this.#publicKey = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    this.#keyId = keyIdOf(this.#publicKey);
  }

  async keyId(): Promise<Digest> {
    return this.#keyId;
  }

  async publicKey(): Promise<Uint8Array> {
    return this.#publicKey;
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    this.#delegated ??= this.#delegate().catch((error: unknown) => {
      this.#delegated = undefined;
      throw error;
    });
    await this.#delegated;
    return new Uint8Array(sign(null, message, this.#privateKey));
  }

  // Stored before it is recorded: an entry never names a statement storage lacks.
  async #delegate(): Promise<void> {
    const { signer, storage, audit, now } = this.#settings;
    const delegate: PublicKeyRecord = { keyId: this.#keyId, algorithm: 'ed25519', publicKey: Buffer.from(this.#publicKey).toString('base64') };
    const delegation: KeyDelegation = { delegate, purpose: 'dispatch-manifest', delegatedBy: await signer.keyId(), issuedAt: new Date(now()).toISOString() };
    const bytes = (this.#statement ??= canonicalJsonBytes(await signKeyDelegation(delegation, signer)));
    const key = delegationKey(this.#keyId);
    // The key is new to this process, so nothing else writes this object; if-absent makes a
    // retried put (the same bytes) after a lost reply harmless.
    await storage.put(key, bytes, { ifAbsent: true, contentType: 'application/json' });
    audit.append({
      actor: engineActor,
      action: 'key.delegated',
      entity: { kind: 'key', id: this.#keyId },
      outcome: 'success',
      data: { purpose: delegation.purpose, delegatedBy: delegation.delegatedBy, statementDigest: sha256Digest(bytes), storageKey: key },
    });
  }
}
