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

/** A failure of a log check: what, and the seq (or tree size) where it was found. */
export interface AuditLogFailure {
  readonly seq?: number;
  readonly treeSize?: number;
  readonly detail: string;
}

/** One checkpoint of the log and what its check found. */
export interface CheckpointVerification {
  /** The tree size the checkpoint names; absent only when its envelope could not be read. */
  readonly treeSize?: number;
  /**
   * `verified`: signed by the key in force, its root recomputed from the entries, its receipts
   * signed and bound to it, and (with trusted anchors, when anchored) held live by every anchor.
   * `failed`: one of those did not hold (`detail`). `not-checked`: the check stopped at a failure
   * of the log itself before it could finish this checkpoint (`detail` says where).
   */
  readonly result: 'verified' | 'failed' | 'not-checked';
  /** Why it failed or was not checked; absent when verified. */
  readonly detail?: string;
  /** Whether the log records it as anchored: only anchored checkpoints are read from trusted anchors. */
  readonly anchored: boolean;
  /** Trusted anchors read live that held it. */
  readonly anchorsRead: number;
}

export interface AuditLogVerification {
  readonly valid: boolean;
  /** Entries read and checked (order, form, leaf). */
  readonly entriesChecked: number;
  /** Checkpoints that passed every check (`verified`). */
  readonly checkpointsChecked: number;
  /** Checkpoints that failed a check. */
  readonly checkpointsFailed: number;
  /** Checkpoints the check did not finish, having stopped at a failure of the log itself. */
  readonly checkpointsNotChecked: number;
  /** Live reads of trusted anchors that held their checkpoint. */
  readonly anchorsRead: number;
  /** Entries after the last checkpoint: checked for order and form, not yet under a signed root. */
  readonly uncoveredEntries: number;
  /** The tree size of the last checkpoint checked, whatever its result (0 when none). */
  readonly coveredSize: number;
  /** Every checkpoint of the log, in order, with its result. */
  readonly checkpoints: readonly CheckpointVerification[];
  /** The first failure in the log's order: of the earliest checkpoint that failed, else of the log itself. */
  readonly failure?: AuditLogFailure;
}

/** A checkpoint's check while it runs: held signatures may settle after its own turn. */
interface CheckpointRecord {
  readonly treeSize?: number;
  readonly anchored: boolean;
  anchorsRead: number;
  /** Its signatures (its own, its receipts') whose keys were not vouched for yet. */
  held: number;
  failure?: AuditLogFailure;
  notChecked?: string;
}

const describe = (error: unknown) => (isCairnError(error) || error instanceof Error ? error.message : String(error));

/**
 * Checks a whole audit log against every checkpoint of it, in one pass and O(log n) memory plus
 * one small record per checkpoint (a compact range; entries and checkpoints are read as streams,
 * in order): entries are seq 0, 1, 2, ... without gaps and valid audit entries; each checkpoint,
 * in tree-size order, is signed by a trusted key, names the origin, and its root is the root of
 * the first `treeSize` leaves (so every checkpoint is a prefix of the same log: consecutive ones
 * are consistent); its stored receipts are signed by a trusted key and name it; and, with trusted
 * anchors, every anchored checkpoint is held live by each.
 *
 * A checkpoint that fails is reported and the check goes on to the next: each checkpoint's root is
 * recomputed from the entries, not from the checkpoint before it, so one forged or lost anchor
 * (an Object Lock version nobody can remove before its retention ends) does not hide whether the
 * checkpoints after it hold. The check stops only at a failure of the log itself (an entry
 * malformed, missing or out of order, an entry that does not hash to what the log stored, a
 * rotation entry that does not hold); every checkpoint it had not finished is reported
 * `not-checked`.
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
  const iterator = Symbol.asyncIterator in checkpoints ? checkpoints[Symbol.asyncIterator]() : checkpoints[Symbol.iterator]();
  const counts = { entriesChecked: 0, anchorsRead: 0, coveredSize: 0 };
  const records: CheckpointRecord[] = [];
  /** The records of checkpoints read in order, by tree size: where a held signature settles. */
  const byTreeSize = new Map<number, CheckpointRecord>();
  let pending: { envelope: LogCheckpoint; checkpoint: Checkpoint; record: CheckpointRecord } | undefined;

  /** A failure of the log itself: what was not finished is not checked, and nothing more is read. */
  const stop = async (failure: AuditLogFailure): Promise<AuditLogVerification> => {
    const where = failure.seq === undefined ? 'before reading any entry' : `at seq ${failure.seq}`;
    // Short: the log's own failure is reported once, as `failure`, not again for every checkpoint after it.
    const notChecked = `the check stopped ${where}, at a failure of the log itself, before it was finished`;
    for (const record of records) if (record.failure === undefined && record.held > 0) record.notChecked = notChecked;
    if (pending) pending.record.notChecked = notChecked;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      let treeSize: number | undefined;
      try {
        treeSize = readCheckpoint(next.value.envelope).treeSize;
      } catch {
        treeSize = undefined;
      }
      records.push({ ...(treeSize === undefined ? {} : { treeSize }), anchored: next.value.anchored, anchorsRead: 0, held: 0, notChecked });
    }
    return result(failure);
  };

  const result = (stopped?: AuditLogFailure): AuditLogVerification => {
    const reported = records.map(checkpointVerification);
    const failure = records.find((record) => record.failure !== undefined)?.failure ?? stopped;
    return {
      valid: failure === undefined,
      entriesChecked: counts.entriesChecked,
      checkpointsChecked: reported.filter((checkpoint) => checkpoint.result === 'verified').length,
      checkpointsFailed: reported.filter((checkpoint) => checkpoint.result === 'failed').length,
      checkpointsNotChecked: reported.filter((checkpoint) => checkpoint.result === 'not-checked').length,
      anchorsRead: counts.anchorsRead,
      uncoveredEntries: counts.entriesChecked - counts.coveredSize,
      coveredSize: counts.coveredSize,
      checkpoints: reported,
      ...(failure ? { failure } : {}),
    };
  };

  let trustedKeys: TrustedKey[];
  try {
    trustedKeys = options.trustedKeys.map((record, index) => trustedKeyFrom(record, `trustedKeys[${index}]`));
  } catch (error) {
    return stop({ detail: describe(error) });
  }
  const subtrees = options.storedSubtrees;
  if (subtrees !== undefined && !(Number.isInteger(subtrees.level) && subtrees.level >= 0 && subtrees.level <= maxSubtreeLevel)) {
    return stop({ detail: `options.storedSubtrees.level must be an integer from 0 to ${maxSubtreeLevel}; it is ${String(subtrees.level)}` });
  }
  const chain = new SigningKeyChain(trustedKeys);
  /** Checkpoints taken in order so far (one that failed on reading is not among them). */
  let checkpointsRead = 0;
  /** The last checkpoint checked: where a rotation must hand over. */
  let lastCheckpoint: Checkpoint | undefined;
  let origin = options.origin;
  /** The tree size of the last checkpoint taken in order: the next must be larger. */
  let previousSize = 0;
  /** The tree size of the last checkpoint whose root the entries recomputed: where an edit is after. */
  let matchedSize = 0;
  const range = new CompactRange();
  /** The leaves of the subtree being read, while `storedSubtrees` is given. */
  const block: Uint8Array[] = [];

  const fail = (record: CheckpointRecord, failure: AuditLogFailure) => {
    record.failure ??= failure;
  };
  /** Held signatures that settled since the last look, each on its own checkpoint. */
  const applySettled = () => {
    for (const settled of chain.settled()) {
      const record = byTreeSize.get(settled.treeSize)!;
      record.held--;
      if (settled.failure) fail(record, settled.failure);
    }
  };

  /**
   * The next checkpoint in order, pending until the entries it covers are read. One that cannot
   * be read, names another origin or is out of order fails on its own and the next is read.
   */
  const nextCheckpoint = async (): Promise<void> => {
    pending = undefined;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      const stored = next.value;
      let checkpoint: Checkpoint;
      try {
        checkpoint = readCheckpoint(stored.envelope);
      } catch (error) {
        records.push({
          anchored: stored.anchored,
          anchorsRead: 0,
          held: 0,
          failure: { treeSize: previousSize, detail: `the checkpoint after tree size ${previousSize}: ${describe(error)}` },
        });
        continue;
      }
      const record: CheckpointRecord = { treeSize: checkpoint.treeSize, anchored: stored.anchored, anchorsRead: 0, held: 0 };
      records.push(record);
      origin ??= checkpoint.origin;
      if (checkpoint.origin !== origin) {
        fail(record, {
          treeSize: checkpoint.treeSize,
          detail: `the checkpoint at tree size ${checkpoint.treeSize} names origin ${checkpoint.origin}, not ${origin}`,
        });
        continue;
      }
      if (checkpoint.treeSize <= previousSize && checkpointsRead > 0) {
        fail(record, {
          treeSize: checkpoint.treeSize,
          detail: `the checkpoint at tree size ${checkpoint.treeSize} follows one at ${previousSize}: checkpoints out of order or repeated`,
        });
        continue;
      }
      checkpointsRead++;
      previousSize = checkpoint.treeSize;
      byTreeSize.set(checkpoint.treeSize, record);
      pending = { envelope: stored, checkpoint, record };
      return;
    }
  };

  /** The pending checkpoint against the leaves so far: signature, root, receipts, live anchors. */
  const checkPending = async (): Promise<void> => {
    const { envelope, checkpoint, record } = pending!;
    const at = { treeSize: checkpoint.treeSize };
    const rootMatched = equalHashes(range.rootHash(), Buffer.from(checkpoint.rootHash, 'hex'));
    const matchedBefore = matchedSize;
    if (rootMatched) matchedSize = checkpoint.treeSize;
    const sizeBefore = lastCheckpoint?.treeSize ?? 0;
    lastCheckpoint = checkpoint;
    counts.coveredSize = checkpoint.treeSize;
    const signed = chain.checkpoint(envelope.envelope, checkpoint, (keys) => openCheckpoint(envelope.envelope, keys), sizeBefore, rootMatched);
    if (signed === 'held') record.held++;
    applySettled();
    if (signed !== 'verified' && signed !== 'held') return fail(record, signed);
    if (!rootMatched) {
      return fail(record, {
        ...at,
        seq: matchedBefore,
        detail: `entries ${matchedBefore}..${checkpoint.treeSize - 1} do not recompute the signed root ${checkpoint.rootHash} of the checkpoint at tree size ${checkpoint.treeSize} (the entries before them did match the checkpoint at ${matchedBefore}): an entry from seq ${matchedBefore} on was altered, or history was rewritten`,
      });
    }
    const digest = anchorEnvelopeDigest(envelope.envelope);
    const receipts: AnchorReceipt[] = [];
    for (const [position, signed] of envelope.receipts.entries()) {
      // A receipt may be signed by a key the log rotates to or from later on: then it is held.
      const outcome = chain.receipt(
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
        checkpoint.treeSize,
      );
      if (outcome === 'held') record.held++;
      else if (outcome !== 'verified') return fail(record, outcome);
    }
    if (!envelope.anchored) return;
    for (const anchor of options.trustedAnchors ?? []) {
      // The stored receipts an anchor calls its own are confirmed too (S3: the version each names).
      const holding = await readTrustedAnchor(anchor, checkpoint, anchorEnvelopeBytes(envelope.envelope), chain.vouchedKeys(), receipts);
      if (!holding.held) return fail(record, { ...at, detail: holding.detail });
      record.anchorsRead++;
      counts.anchorsRead++;
    }
  };

  await nextCheckpoint();
  while (pending && pending.checkpoint.treeSize === 0) {
    await checkPending();
    await nextCheckpoint();
  }
  for await (const value of entries) {
    const seq = range.size;
    const problem = auditEntryProblem(value);
    if (problem !== undefined) return stop({ seq, detail: `entry seq ${seq}${problem}` });
    const entry = value as AuditEntry;
    if (entry.seq !== seq) return stop({ seq, detail: `entry seq ${entry.seq} found where seq ${seq} belongs: the log has a gap or is out of order` });
    const leaf = auditLeafHash(entry);
    const stored = options.storedLeafHash?.(seq);
    if (stored !== undefined && !equalHashes(stored, leaf)) {
      return stop({
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
        return stop({
          seq: first,
          detail: `entries ${first}..${seq} do not hash to the subtree the log stored over them when they were appended: one of them (or the stored tree) was edited`,
        });
      }
      block.length = 0;
    }
    if (entry.action === 'signer.rotated') {
      const failure = chain.rotated(entry, lastCheckpoint);
      applySettled();
      if (failure) return stop(failure);
    }
    while (pending && pending.checkpoint.treeSize === range.size) {
      await checkPending();
      await nextCheckpoint();
    }
  }
  // Checkpoints beyond the last entry cover entries the log no longer has.
  while (pending) {
    fail(pending.record, {
      treeSize: pending.checkpoint.treeSize,
      seq: range.size,
      detail: `the checkpoint at tree size ${pending.checkpoint.treeSize} covers entries up to seq ${pending.checkpoint.treeSize - 1}, but the log ends at seq ${range.size - 1}: entries were removed`,
    });
    await nextCheckpoint();
  }
  for (const unvouched of chain.unresolved()) {
    const record = byTreeSize.get(unvouched.treeSize)!;
    record.held--;
    fail(record, unvouched.failure!);
  }
  return result();
}

function checkpointVerification(record: CheckpointRecord): CheckpointVerification {
  const shape = { ...(record.treeSize === undefined ? {} : { treeSize: record.treeSize }), anchored: record.anchored, anchorsRead: record.anchorsRead };
  if (record.failure) return { ...shape, result: 'failed', detail: record.failure.detail };
  if (record.notChecked !== undefined || record.held > 0)
    return { ...shape, result: 'not-checked', detail: record.notChecked ?? 'a signature of it is by a key not vouched for yet' };
  return { ...shape, result: 'verified' };
}

/** The highest `storedSubtrees.level` taken: its subtree's leaves are held in memory while read. */
const maxSubtreeLevel = 16;
