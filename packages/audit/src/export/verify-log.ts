import type { AuditEntry, DsseEnvelope, PublicKeyRecord } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { openCheckpoint } from '../checkpoint/checkpoint-envelope.ts';
import { trustedKeyFrom } from '../dsse/verify-signature.ts';
import { auditLeafHash } from '../entries/audit-entry-leaf.ts';
import { CompactRange } from '../merkle/compact-range.ts';
import { equalHashes } from '../merkle/equal-hashes.ts';

export interface LogVerification {
  readonly valid: boolean;
  readonly detail: string;
}

/**
 * Checks a whole log against a signed checkpoint: the checkpoint verifies under a trusted key,
 * the entries are exactly seq 0..treeSize-1 in order (later ones are ignored), and their leaves
 * recompute its root. O(log n) memory, so a log streams through it.
 */
export function verifyLog(entries: Iterable<AuditEntry>, checkpointEnvelope: DsseEnvelope, trustedKeys: readonly PublicKeyRecord[]): LogVerification {
  let checkpoint;
  try {
    checkpoint = openCheckpoint(
      checkpointEnvelope,
      trustedKeys.map((record, index) => trustedKeyFrom(record, `trustedKeys[${index}]`)),
    );
  } catch (error) {
    return { valid: false, detail: `checkpoint: ${isCairnError(error) ? error.message : String(error)}` };
  }
  const range = new CompactRange();
  for (const entry of entries) {
    if (range.size === checkpoint.treeSize) break;
    if (entry.seq !== range.size)
      return { valid: false, detail: `entry seq ${entry.seq} found where seq ${range.size} belongs: the log has a gap or is out of order` };
    range.append(auditLeafHash(entry));
  }
  if (range.size < checkpoint.treeSize) return { valid: false, detail: `the log holds ${range.size} entries; the checkpoint covers ${checkpoint.treeSize}` };
  if (!equalHashes(range.rootHash(), Buffer.from(checkpoint.rootHash, 'hex'))) {
    return { valid: false, detail: `the ${checkpoint.treeSize} entries do not recompute the checkpoint's root ${checkpoint.rootHash}: the log was altered` };
  }
  return { valid: true, detail: `${checkpoint.treeSize} entries recompute the signed root ${checkpoint.rootHash} of ${checkpoint.origin}` };
}
