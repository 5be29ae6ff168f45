import type { AnchorReceipt, AuditEntry, Checkpoint, DsseEnvelope, PublicKeyRecord } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { anchorEnvelopeBytes, anchorEnvelopeDigest, openReceipt } from '../anchor/signed-receipt.ts';
import { readTrustedAnchor } from '../anchor/read-trusted-anchor.ts';
import type { TrustedAnchor } from '../anchor/trusted-anchor.ts';
import { openCheckpoint } from '../checkpoint/checkpoint-envelope.ts';
import { readCheckpoint } from '../bundle/build-evidence-bundle.ts';
import { trustedKeyFrom, type TrustedKey } from '../dsse/verify-signature.ts';
import { auditEntryProblem } from '../entries/audit-entry-problem.ts';
import { auditLeafHash } from '../entries/audit-entry-leaf.ts';
import { CompactRange } from '../merkle/compact-range.ts';
import { equalHashes } from '../merkle/equal-hashes.ts';
import { perfectTreeHash } from '../merkle/merkle-hash.ts';
import { SigningKeyChain } from './signing-key-chain.ts';

/** A checkpoint as the log keeps it: the signed envelope and, once anchored, its signed receipts. */
export interface LogCheckpoint {
  readonly envelope: DsseEnvelope;
  readonly anchored: boolean;
  readonly receipts: readonly DsseEnvelope[];
}

export interface VerifyAuditLogOptions {
  /** Keys the checkpoints and receipts must be signed by (the server's own, pinned). */
  readonly trustedKeys: readonly PublicKeyRecord[];
  /** The origin every checkpoint must name; by default the first checkpoint's. */
  readonly origin?: string;
  /** Anchors read live for every anchored checkpoint; each must hold it. */
  readonly trustedAnchors?: readonly TrustedAnchor[];
  /**
   * The leaf hash the log stores for a seq (the engine's Merkle node store), if any: only a
   * locator, so that an edited entry is named by its own seq rather than by the checkpoint
   * whose root it breaks. The verdict never rests on it.
   */
  readonly storedLeafHash?: (seq: number) => Uint8Array | undefined;
  /**
   * The hashes the log stores of its complete subtrees of one `level` (each over 2^level entries:
   * the subtree `index` over seq index·2^level to (index + 1)·2^level − 1), if any: the locator of
   * a store that keeps no leaves (the engine's keeps levels 4, 8, 12, ...), naming the 2^level
   * entries among which an edited one is. Only a locator too: the verdict never rests on it.
   */
  readonly storedSubtrees?: { readonly level: number; readonly hash: (index: number) => Uint8Array | undefined };
}

/** The first failure of a log check: what, and the seq (or tree size) where it was found. */
export interface AuditLogFailure {
  readonly seq?: number;
  readonly treeSize?: number;
  readonly detail: string;
}

export interface AuditLogVerification {
  readonly valid: boolean;
  /** Entries read and checked (order, form, leaf). */
  readonly entriesChecked: number;
  /** Checkpoints whose signature, receipts and root were checked. */
  readonly checkpointsChecked: number;
  /** Live reads of trusted anchors that held their checkpoint. */
  readonly anchorsRead: number;
  /** Entries after the last checkpoint: checked for order and form, not yet under a signed root. */
  readonly uncoveredEntries: number;
  /** The tree size of the last checkpoint checked (0 when none). */
  readonly coveredSize: number;
  readonly failure?: AuditLogFailure;
}

const describe = (error: unknown) => (isCairnError(error) || error instanceof Error ? error.message : String(error));

/**
 * Checks a whole audit log against every checkpoint of it, in one pass and O(log n) memory (a
 * compact range; entries and checkpoints are read as streams, in order): entries are seq 0, 1, 2,
 * ... without gaps and valid audit entries; each checkpoint, in tree-size order, is signed by a
 * trusted key, names the origin, and its root is the root of the first `treeSize` leaves (so every
 * checkpoint is a prefix of the same log: consecutive ones are consistent); its stored receipts
 * are signed by a trusted key and name it; and, with trusted anchors, every anchored checkpoint is
 * held live by each. Stops at the first failure and names its seq.
 *
 * Signing keys (ADR 0019): one key signs every checkpoint until a `signer.rotated` entry, signed
 * by that key, hands the log over to the next, which signs every checkpoint after it; a checkpoint
 * by another key, or a rotation not signed by the key in force, fails, named. Trusting either end
 * of the chain is enough: a trusted key vouches for the key it handed over to, and for the key that
 * handed over to it once its checkpoint covers the handover (see `SigningKeyChain`).
 */
export async function verifyAuditLog(
  entries: Iterable<unknown> | AsyncIterable<unknown>,
  checkpoints: Iterable<LogCheckpoint> | AsyncIterable<LogCheckpoint>,
  options: VerifyAuditLogOptions,
): Promise<AuditLogVerification> {
  let trustedKeys: TrustedKey[];
  const counts = { entriesChecked: 0, anchorsRead: 0, coveredSize: 0 };
  let chain = new SigningKeyChain([]);
  const result = (failure?: AuditLogFailure): AuditLogVerification => ({
    valid: failure === undefined,
    ...counts,
    checkpointsChecked: chain.checkpointsChecked,
    uncoveredEntries: counts.entriesChecked - counts.coveredSize,
    ...(failure ? { failure } : {}),
  });
  try {
    trustedKeys = options.trustedKeys.map((record, index) => trustedKeyFrom(record, `trustedKeys[${index}]`));
  } catch (error) {
    return result({ detail: describe(error) });
  }
  chain = new SigningKeyChain(trustedKeys);
  /** Checkpoints read so far (signatures may still be held by the key chain). */
  let checkpointsRead = 0;
  /** The last checkpoint checked: where a rotation must hand over. */
  let lastCheckpoint: Checkpoint | undefined;
  const iterator = Symbol.asyncIterator in checkpoints ? checkpoints[Symbol.asyncIterator]() : checkpoints[Symbol.iterator]();
  let origin = options.origin;
  let previousSize = 0;
  let pending: { envelope: LogCheckpoint; checkpoint: Checkpoint } | undefined;
  const range = new CompactRange();
  const subtrees = options.storedSubtrees;
  if (subtrees !== undefined && !(Number.isInteger(subtrees.level) && subtrees.level >= 0 && subtrees.level <= maxSubtreeLevel)) {
    return result({ detail: `options.storedSubtrees.level must be an integer from 0 to ${maxSubtreeLevel}; it is ${String(subtrees.level)}` });
  }
  /** The leaves of the subtree being read, while `storedSubtrees` is given. */
  const block: Uint8Array[] = [];

  /**
   * The next checkpoint, read (origin, order); a failure ends the check. Its signature is checked
   * once the entries it covers are read: a rotation among them changes the key it must carry.
   */
  const nextCheckpoint = async (): Promise<AuditLogFailure | undefined> => {
    pending = undefined;
    const next = await iterator.next();
    if (next.done) return undefined;
    let checkpoint: Checkpoint;
    try {
      checkpoint = readCheckpoint(next.value.envelope);
    } catch (error) {
      return { treeSize: previousSize, detail: `the checkpoint after tree size ${previousSize}: ${describe(error)}` };
    }
    origin ??= checkpoint.origin;
    if (checkpoint.origin !== origin)
      return { treeSize: checkpoint.treeSize, detail: `the checkpoint at tree size ${checkpoint.treeSize} names origin ${checkpoint.origin}, not ${origin}` };
    if (checkpoint.treeSize <= previousSize && checkpointsRead > 0) {
      return {
        treeSize: checkpoint.treeSize,
        detail: `the checkpoint at tree size ${checkpoint.treeSize} follows one at ${previousSize}: checkpoints out of order or repeated`,
      };
    }
    pending = { envelope: next.value, checkpoint };
    checkpointsRead++;
    return undefined;
  };

  /** The pending checkpoint against the leaves so far: root, receipts, live anchors. */
  const checkPending = async (): Promise<AuditLogFailure | undefined> => {
    const { envelope, checkpoint } = pending!;
    const at = { treeSize: checkpoint.treeSize };
    const signed = chain.checkpoint(envelope.envelope, checkpoint, (keys) => openCheckpoint(envelope.envelope, keys), previousSize);
    if (signed) return signed;
    if (!equalHashes(range.rootHash(), Buffer.from(checkpoint.rootHash, 'hex'))) {
      return {
        ...at,
        seq: previousSize,
        detail: `entries ${previousSize}..${checkpoint.treeSize - 1} do not recompute the signed root ${checkpoint.rootHash} of the checkpoint at tree size ${checkpoint.treeSize} (the entries before them did match the checkpoint at ${previousSize}): an entry from seq ${previousSize} on was altered, or history was rewritten`,
      };
    }
    const digest = anchorEnvelopeDigest(envelope.envelope);
    const receipts: AnchorReceipt[] = [];
    for (const [position, signed] of envelope.receipts.entries()) {
      // A receipt may be signed by a key the log rotates to or from later on: then it is held.
      const failure = chain.receipt(
        signed,
        (keys): AuditLogFailure | undefined => {
          try {
            const receipt = openReceipt(signed, keys);
            receipts.push(receipt);
            if (
              receipt.origin !== checkpoint.origin ||
              receipt.treeSize !== checkpoint.treeSize ||
              receipt.rootHash !== checkpoint.rootHash ||
              receipt.envelopeDigest !== digest
            ) {
              return {
                ...at,
                detail: `receipt ${position} of the checkpoint at tree size ${checkpoint.treeSize} names another checkpoint (${receipt.origin}@${receipt.treeSize}, root ${receipt.rootHash})`,
              };
            }
            return undefined;
          } catch (error) {
            return { ...at, detail: `receipt ${position} of the checkpoint at tree size ${checkpoint.treeSize}: ${describe(error)}` };
          }
        },
        { ...at, detail: `receipt ${position} of the checkpoint at tree size ${checkpoint.treeSize}` },
      );
      if (failure) return failure;
    }
    if (envelope.anchored) {
      for (const anchor of options.trustedAnchors ?? []) {
        // The stored receipts an anchor calls its own are confirmed too (S3: the version each names).
        const holding = await readTrustedAnchor(anchor, checkpoint, anchorEnvelopeBytes(envelope.envelope), chain.vouchedKeys(), receipts);
        if (!holding.held) return { ...at, detail: holding.detail };
        counts.anchorsRead++;
      }
    }
    chain.checked();
    counts.coveredSize = checkpoint.treeSize;
    previousSize = checkpoint.treeSize;
    lastCheckpoint = checkpoint;
    return undefined;
  };

  let failure = await nextCheckpoint();
  if (failure) return result(failure);
  while (pending && pending.checkpoint.treeSize === 0) {
    failure = (await checkPending()) ?? (await nextCheckpoint());
    if (failure) return result(failure);
  }
  for await (const value of entries) {
    const seq = range.size;
    const problem = auditEntryProblem(value);
    if (problem !== undefined) return result({ seq, detail: `entry seq ${seq}${problem}` });
    const entry = value as AuditEntry;
    if (entry.seq !== seq) return result({ seq, detail: `entry seq ${entry.seq} found where seq ${seq} belongs: the log has a gap or is out of order` });
    const leaf = auditLeafHash(entry);
    const stored = options.storedLeafHash?.(seq);
    if (stored !== undefined && !equalHashes(stored, leaf)) {
      return result({
        seq,
        detail: `entry seq ${seq} does not hash to the leaf the log stored for it when it was appended: the entry (or the stored tree) was edited`,
      });
    }
    range.append(leaf);
    counts.entriesChecked++;
    if (subtrees !== undefined && block.push(leaf) === 2 ** subtrees.level) {
      const stored = subtrees.hash(range.size / block.length - 1);
      if (stored !== undefined && !equalHashes(stored, perfectTreeHash(block))) {
        const first = range.size - block.length;
        return result({
          seq: first,
          detail: `entries ${first}..${seq} do not hash to the subtree the log stored over them when they were appended: one of them (or the stored tree) was edited`,
        });
      }
      block.length = 0;
    }
    if (entry.action === 'signer.rotated') {
      const failure = chain.rotated(entry, lastCheckpoint);
      if (failure) return result(failure);
    }
    while (pending && pending.checkpoint.treeSize === range.size) {
      failure = (await checkPending()) ?? (await nextCheckpoint());
      if (failure) return result(failure);
    }
  }
  if (pending) {
    return result({
      treeSize: pending.checkpoint.treeSize,
      seq: range.size,
      detail: `the checkpoint at tree size ${pending.checkpoint.treeSize} covers entries up to seq ${pending.checkpoint.treeSize - 1}, but the log ends at seq ${range.size - 1}: entries were removed`,
    });
  }
  return result(chain.unresolved());
}

/** The highest `storedSubtrees.level` taken: its subtree's leaves are held in memory while read. */
const maxSubtreeLevel = 16;
