import type { AuditEntry, Checkpoint, DsseEnvelope } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { openSignerRotatedEntry } from '../rotation/signer-rotation-envelope.ts';
import { trustedKeyFrom, type TrustedKey } from '../dsse/verify-signature.ts';

/** A failure as `verifyAuditLog` reports it. */
export interface KeyChainFailure {
  readonly seq?: number;
  readonly treeSize?: number;
  readonly detail: string;
}

/**
 * A held signature once settled: the tree size of the checkpoint it belongs to (its own, or the
 * one a receipt is of), and its failure when it did not verify or its key was never vouched for.
 */
export interface SettledSignature {
  readonly treeSize: number;
  readonly failure?: KeyChainFailure;
}

/** A signature whose key was not vouched for when it was met: checked once it is, or reported at the end. */
interface Deferred {
  readonly keyId: string;
  /** The checkpoint it belongs to, so that its outcome is reported there and nowhere else. */
  readonly treeSize: number;
  /** Checks the signature with the key, once vouched for; a failure if it does not verify. */
  readonly check: (key: TrustedKey) => KeyChainFailure | undefined;
  /** What is reported if the key is never vouched for. */
  readonly unvouched: KeyChainFailure;
}

/** A verified `signer.rotated` statement: `from` handed the log over to `to` at entry `seq`. */
interface Handover {
  readonly from: string;
  readonly to: string;
  readonly seq: number;
  /** A checkpoint by `to` covering the entry verified: `to` vouches for the statement, so for `from`. */
  sealed: boolean;
}

const describe = (error: unknown) => (isCairnError(error) || error instanceof Error ? error.message : String(error));

/**
 * Which key signs the log where, as its `signer.rotated` entries say (ADR 0019), and which of
 * those keys the caller's trust reaches. One key signs every checkpoint until a rotation entry,
 * signed by that key, hands over to the next; a checkpoint by any other key fails, named. A key
 * is vouched for when the caller trusts it, when a vouched key handed over to it, or when it
 * handed over to a vouched key whose checkpoint covers the handover (that checkpoint's root
 * commits to the statement and to everything before it). A signature by a key not vouched for
 * yet is held and checked once it is, so a log verifies with either end of its key chain
 * trusted; one still unvouched at the end fails, naming its key.
 *
 * A failure belongs to one checkpoint and never ends the chain: the caller goes on to the next
 * checkpoint, and a held signature, once settled, is reported (`settled`) for the checkpoint it
 * belongs to rather than for the one being read when it settled.
 */
export class SigningKeyChain {
  readonly #keys = new Map<string, TrustedKey>();
  readonly #vouched = new Set<string>();
  readonly #handovers: Handover[] = [];
  #deferred: Deferred[] = [];
  /** Held signatures settled since `settled` was last asked. */
  #settled: SettledSignature[] = [];
  /** The key the next checkpoint must be signed by, and since when. */
  #inForce: { keyId: string; since: string } | undefined;

  constructor(trustedKeys: readonly TrustedKey[]) {
    for (const key of trustedKeys) {
      this.#keys.set(key.record.keyId, key);
      this.#vouched.add(key.record.keyId);
    }
  }

  /** The keys vouched for so far. */
  vouchedKeys(): TrustedKey[] {
    return [...this.#vouched].map((keyId) => this.#keys.get(keyId)!);
  }

  /**
   * A checkpoint, once every entry it covers was read: it must be signed by the key in force,
   * and that signature verifies now (`verified`: key vouched for) or later (`held`). Only a
   * checkpoint whose root matched the entries (`rootMatched`) vouches for the handovers it covers.
   */
  checkpoint(
    envelope: DsseEnvelope,
    checkpoint: Checkpoint,
    open: (keys: readonly TrustedKey[]) => Checkpoint,
    previousSize: number,
    rootMatched: boolean,
  ): KeyChainFailure | 'verified' | 'held' {
    const at = `the checkpoint after tree size ${previousSize}`;
    const signedBy = envelope.signatures.map((signature) => signature.keyid);
    if (this.#inForce === undefined) {
      // The log's first checkpoint: its key is in force until a rotation (a trusted one if it names several).
      const keyId = signedBy.find((candidate) => this.#vouched.has(candidate)) ?? signedBy[0] ?? 'no key';
      this.#inForce = { keyId, since: `the first checkpoint (tree size ${checkpoint.treeSize})` };
    }
    const inForce = this.#inForce;
    if (!signedBy.includes(inForce.keyId)) {
      return {
        treeSize: checkpoint.treeSize,
        detail: `the checkpoint at tree size ${checkpoint.treeSize} is signed by ${signedBy.join(', ') || 'no key'}, but the key in force since ${inForce.since} is ${inForce.keyId}: the signing key changed without a signer.rotated entry signed by the old key`,
      };
    }
    const check = (key: TrustedKey): KeyChainFailure | undefined => {
      try {
        open([key]);
        return undefined;
      } catch (error) {
        return { treeSize: previousSize, detail: `${at}: ${describe(error)}` };
      }
    };
    const key = this.#keys.get(inForce.keyId);
    if (key && this.#vouched.has(inForce.keyId)) {
      const failure = check(key);
      if (failure) return failure;
      if (rootMatched) this.#sealHandovers(inForce.keyId, checkpoint.treeSize);
      this.#settle();
      return 'verified';
    }
    // Checked now if the key is known (a bad signature fails at once), and trusted later.
    if (key) {
      const failure = check(key);
      if (failure) return failure;
    }
    this.#deferred.push({
      keyId: inForce.keyId,
      treeSize: checkpoint.treeSize,
      check,
      unvouched: {
        treeSize: previousSize,
        detail: `${at}: No signature of the envelope is by a trusted key: it is signed by ${inForce.keyId}, which is not trusted, nor handed over to by a trusted key through a signer.rotated entry (trust that key, or a key it rotated to or from).`,
      },
    });
    if (rootMatched) this.#sealHandovers(inForce.keyId, checkpoint.treeSize);
    this.#settle();
    return 'held';
  }

  /** A signed anchor receipt of the checkpoint at `treeSize`: by any key vouched for, now (`verified`) or by the end (`held`). */
  receipt(
    envelope: DsseEnvelope,
    check: (keys: readonly TrustedKey[]) => KeyChainFailure | undefined,
    where: KeyChainFailure,
    treeSize: number,
  ): KeyChainFailure | 'verified' | 'held' {
    const signedBy = envelope.signatures.map((signature) => signature.keyid);
    if (signedBy.some((keyId) => this.#vouched.has(keyId)) || signedBy.length === 0) return check(this.vouchedKeys()) ?? 'verified';
    const keyId = signedBy[0]!;
    this.#deferred.push({
      keyId,
      treeSize,
      check: (key) => check([key]),
      unvouched: {
        ...where,
        detail: `${where.detail}: No signature of the envelope is by a trusted key: it is signed by ${signedBy.join(', ')}, which is not trusted, nor handed over to by a trusted key through a signer.rotated entry.`,
      },
    });
    return 'held';
  }

  /**
   * A `signer.rotated` entry: its statement must be signed by the key it hands over from, that
   * key must be the one in force, and the handover point must be the last checkpoint checked
   * (`last`, with its origin and root). From here on the statement's new key is in force.
   */
  rotated(entry: AuditEntry, last: Checkpoint | undefined): KeyChainFailure | undefined {
    const at = { seq: entry.seq };
    let rotation;
    try {
      rotation = openSignerRotatedEntry(entry);
    } catch (error) {
      return { ...at, detail: describe(error) };
    }
    const from = rotation.from.keyId;
    if (!last || !this.#inForce)
      return {
        ...at,
        detail: `entry seq ${entry.seq} hands the log over from ${from}, but no checkpoint precedes it: nothing was signed by that key to hand over`,
      };
    if (from !== this.#inForce.keyId) {
      return {
        ...at,
        detail: `entry seq ${entry.seq} hands the log over from ${from}, but the key in force since ${this.#inForce.since} is ${this.#inForce.keyId}: a rotation by a key that does not sign this log`,
      };
    }
    if (rotation.origin !== last.origin || rotation.fromCheckpoint !== last.treeSize || rotation.rootHash !== last.rootHash) {
      return {
        ...at,
        detail: `entry seq ${entry.seq} hands over ${rotation.origin} at tree size ${rotation.fromCheckpoint} (root ${rotation.rootHash}), but the last checkpoint before it is ${last.origin} at ${last.treeSize} (root ${last.rootHash}): a statement made for another log or another point`,
      };
    }
    try {
      if (!this.#keys.has(from)) this.#keys.set(from, trustedKeyFrom(rotation.from, `entry seq ${entry.seq} statement from`));
      if (!this.#keys.has(rotation.to.keyId)) this.#keys.set(rotation.to.keyId, trustedKeyFrom(rotation.to, `entry seq ${entry.seq} statement to`));
    } catch (error) {
      return { ...at, detail: describe(error) };
    }
    this.#handovers.push({ from, to: rotation.to.keyId, seq: entry.seq, sealed: false });
    this.#inForce = { keyId: rotation.to.keyId, since: `the signer.rotated entry at seq ${entry.seq}` };
    this.#settle();
    return undefined;
  }

  /** The held signatures settled since the last call, each for the checkpoint it belongs to. */
  settled(): SettledSignature[] {
    const settled = this.#settled;
    this.#settled = [];
    return settled;
  }

  /** What is still unvouched once the whole log was read: every held signature, as a failure of its checkpoint. */
  unresolved(): SettledSignature[] {
    return this.#deferred.map((deferred) => ({ treeSize: deferred.treeSize, failure: deferred.unvouched }));
  }

  // A checkpoint by `keyId` covering `treeSize` entries seals the handovers to that key before it.
  #sealHandovers(keyId: string, treeSize: number): void {
    for (const handover of this.#handovers) if (handover.to === keyId && handover.seq < treeSize) handover.sealed = true;
  }

  // Spreads trust along the handovers until nothing changes, then checks what was held for the
  // keys that became vouched for; each outcome waits in #settled for its checkpoint.
  #settle(): void {
    for (let changed = true; changed;) {
      changed = false;
      for (const handover of this.#handovers) {
        if (this.#vouched.has(handover.from) && !this.#vouched.has(handover.to)) changed = this.#vouch(handover.to);
        else if (handover.sealed && this.#vouched.has(handover.to) && !this.#vouched.has(handover.from)) changed = this.#vouch(handover.from);
      }
    }
    const waiting: Deferred[] = [];
    for (const deferred of this.#deferred) {
      const key = this.#keys.get(deferred.keyId);
      if (!key || !this.#vouched.has(deferred.keyId)) {
        waiting.push(deferred);
        continue;
      }
      const failure = deferred.check(key);
      this.#settled.push(failure ? { treeSize: deferred.treeSize, failure } : { treeSize: deferred.treeSize });
    }
    this.#deferred = waiting;
  }

  #vouch(keyId: string): boolean {
    this.#vouched.add(keyId);
    return true;
  }
}
