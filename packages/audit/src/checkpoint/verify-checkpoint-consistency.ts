import type { DsseEnvelope, PublicKeyRecord } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { trustedKeyFrom } from '../dsse/verify-signature.ts';
import { verifyConsistency } from '../merkle/verify-consistency.ts';
import { openCheckpoint } from './checkpoint-envelope.ts';

export interface CheckpointLink {
  readonly valid: boolean;
  readonly detail: string;
}

/**
 * Checks that `newer` extends `older`: both signed by trusted keys, of the same log, and linked by
 * an RFC 6962 consistency proof (hex hashes, as the engine publishes them). A chain of such links
 * from an anchored checkpoint to the latest is what makes rewriting history detectable.
 */
export function verifyCheckpointConsistency(
  older: DsseEnvelope,
  newer: DsseEnvelope,
  proof: readonly string[],
  trustedKeys: readonly PublicKeyRecord[],
): CheckpointLink {
  try {
    const keys = trustedKeys.map((record, index) => trustedKeyFrom(record, `trustedKeys[${index}]`));
    const first = openCheckpoint(older, keys);
    const second = openCheckpoint(newer, keys);
    if (first.origin !== second.origin) return { valid: false, detail: `the checkpoints are of different logs (${first.origin}, ${second.origin})` };
    if (first.treeSize > second.treeSize)
      return { valid: false, detail: `the newer checkpoint is smaller (${second.treeSize} < ${first.treeSize}): a rollback` };
    const hashes = proof.map((hex) => new Uint8Array(Buffer.from(hex, 'hex')));
    const consistent = verifyConsistency(first.treeSize, second.treeSize, hashes, Buffer.from(first.rootHash, 'hex'), Buffer.from(second.rootHash, 'hex'));
    return consistent
      ? { valid: true, detail: `${first.origin}@${second.treeSize} extends @${first.treeSize}` }
      : { valid: false, detail: `${first.origin}@${second.treeSize} does not extend @${first.treeSize}: history was rewritten, or the proof is wrong` };
  } catch (error) {
    return { valid: false, detail: isCairnError(error) ? error.message : String(error) };
  }
}
