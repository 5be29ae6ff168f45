import type { AuditEntry, DsseEnvelope, PublicKeyRecord, SignerRotation, SignerV1 } from '@cairn/core';
import { readSignerRotation } from '@cairn/audit';
import { flushDeferredWrites } from './deferred-writes.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { publicKeyRecord } from '../../audit/checkpointer.ts';

/**
 * The public keys that signed this log, by key id: the engine's signers and every key a
 * `signer.rotated` entry names (its statement carries both keys), so a bundle lists the old key
 * after the signer that held it is gone from the configuration. The log is read once, then only
 * from where it was last read (by seq, the primary key): rotations are rare, exports are not.
 */
export class SigningKeyRecords {
  readonly #database: EngineDatabase;
  readonly #rotatedFrom;
  readonly #records = new Map<string, PublicKeyRecord>();
  #readUpTo = 0;

  constructor(database: EngineDatabase) {
    this.#database = database;
    this.#rotatedFrom = database.prepare<[number], { seq: number; body: string }>(
      `SELECT seq, body FROM audit_entries WHERE seq >= ? AND action = 'signer.rotated' ORDER BY seq`,
    );
  }

  /**
   * The records of the keys that signed `envelopes`, sorted by key id; a key id neither a signer
   * nor a rotation names is left out (the verifier then names it as not trusted).
   */
  async signersOf(envelopes: readonly DsseEnvelope[], signers: readonly SignerV1[]): Promise<PublicKeyRecord[]> {
    for (const signer of signers) {
      const record = await publicKeyRecord(signer);
      this.#records.set(record.keyId, record);
    }
    const wanted = new Set(envelopes.flatMap((envelope) => envelope.signatures.map((signature) => signature.keyid)));
    if ([...wanted].some((keyId) => !this.#records.has(keyId))) this.#readRotations();
    return [...wanted].flatMap((keyId) => {
      const record = this.#records.get(keyId);
      return record ? [record] : [];
    });
  }

  #readRotations(): void {
    flushDeferredWrites(this.#database);
    for (const row of this.#rotatedFrom.all(this.#readUpTo)) {
      const rotation: SignerRotation | undefined = readSignerRotation(JSON.parse(row.body) as AuditEntry);
      if (rotation) for (const record of [rotation.from, rotation.to]) if (!this.#records.has(record.keyId)) this.#records.set(record.keyId, record);
      this.#readUpTo = row.seq + 1;
    }
  }
}
