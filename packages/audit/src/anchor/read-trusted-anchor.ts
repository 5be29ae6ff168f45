import type { AnchoredCheckpoint, AnchorReceipt, Checkpoint, CheckpointReference } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { openCheckpoint } from '../checkpoint/checkpoint-envelope.ts';
import type { TrustedKey } from '../dsse/verify-signature.ts';
import type { TrustedAnchor } from './trusted-anchor.ts';

/** Whether a trusted anchor holds a checkpoint live: where, or what it lacked. */
export type AnchorHolding = { readonly held: true; readonly location: string } | { readonly held: false; readonly detail: string };

/**
 * Asks `anchor` live for `checkpoint` by its tree head and checks that it holds exactly
 * `envelopeBytes`, or an envelope of the same tree head signed by a trusted key (the anchor keeps
 * the first envelope of a tree head; a re-signed one, as ECDSA signatures differ each time, is the
 * same checkpoint). The detail of a miss names the anchor and the head it lacked.
 *
 * `receipts`: the bundle's receipts, signed and bound to this checkpoint. Those the anchor calls
 * its own (`isOwnReceipt`: its kind, inside its own storage) are handed to its `read`, one at a
 * time, so it can check it holds exactly what each names (an S3 Object Lock receipt names a
 * version); a receipt it refuses fails the check. Nothing is ever read where a receipt points
 * outside the anchor (ADR 0013); a bundle without receipts is read by tree head alone.
 */
export async function readTrustedAnchor(
  anchor: TrustedAnchor,
  checkpoint: Checkpoint,
  envelopeBytes: Uint8Array,
  trustedKeys: readonly TrustedKey[],
  receipts: readonly AnchorReceipt[] = [],
): Promise<AnchorHolding> {
  const own = anchor.isOwnReceipt ? receipts.filter((receipt) => anchor.isOwnReceipt!(receipt)) : [];
  if (own.length === 0) return readOnce(anchor, checkpoint, envelopeBytes, trustedKeys, undefined);
  const locations: string[] = [];
  for (const receipt of own) {
    const holding = await readOnce(anchor, checkpoint, envelopeBytes, trustedKeys, receipt);
    if (!holding.held) return holding;
    locations.push(holding.location);
  }
  return { held: true, location: locations.join(', ') };
}

async function readOnce(
  anchor: TrustedAnchor,
  checkpoint: Checkpoint,
  envelopeBytes: Uint8Array,
  trustedKeys: readonly TrustedKey[],
  receipt: AnchorReceipt | undefined,
): Promise<AnchorHolding> {
  const reference: CheckpointReference = { origin: checkpoint.origin, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash };
  let anchored: AnchoredCheckpoint | null;
  try {
    anchored = receipt === undefined ? await anchor.read(reference) : await anchor.read(reference, receipt);
  } catch (error) {
    const reason = isCairnError(error) || error instanceof Error ? error.message : String(error);
    const what = receipt === undefined ? '' : ` named by the receipt ${receipt.location}`;
    return {
      held: false,
      detail: `${anchor.name}: reading the checkpoint of ${checkpoint.origin} at tree size ${checkpoint.treeSize}${what} failed: ${reason}`,
    };
  }
  if (!anchored) {
    return {
      held: false,
      detail: `${anchor.name} holds no checkpoint of ${checkpoint.origin} at tree size ${checkpoint.treeSize} with root ${checkpoint.rootHash}: it holds another root for that size (history rewritten and re-signed), or this checkpoint is not anchored there (yet: an anchor outage queues checkpoints, so verify again once it is anchored; or the anchor lost it)`,
    };
  }
  if (Buffer.compare(anchored.envelope, envelopeBytes) !== 0 && !sameTreeHead(anchored.envelope, checkpoint, trustedKeys)) {
    return {
      held: false,
      detail: `${anchor.name} holds a different checkpoint for ${checkpoint.origin} at tree size ${checkpoint.treeSize}: equivocation or tampering`,
    };
  }
  return { held: true, location: anchored.receipt.location };
}

function sameTreeHead(envelopeBytes: Uint8Array, checkpoint: Checkpoint, trustedKeys: readonly TrustedKey[]): boolean {
  try {
    const anchored = openCheckpoint(JSON.parse(new TextDecoder().decode(envelopeBytes)), trustedKeys);
    return anchored.origin === checkpoint.origin && anchored.treeSize === checkpoint.treeSize && anchored.rootHash === checkpoint.rootHash;
  } catch {
    return false;
  }
}
