import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AnchoredCheckpoint, AnchorReceipt } from '@cairn/core';
import { createLocalAuditAnchor } from '@cairn/local';
import { CairnError } from '@cairn/protocol';

/**
 * Reads the anchor a receipt names, live, for `verifyBundle`'s `readAnchor`: what `cairn verify
 * --online` adds to the offline checks. A `file` anchor's receipt locates its envelope at
 * `<anchor directory>/<origin folder>/<size>-<digest>.dsse`, so the anchor is opened on that
 * directory and asked to read the checkpoint back, with its own tamper checks (envelope digest,
 * receipt file, journal). The receipt is signed by a trusted key, so the location is the server's.
 *
 * Returns null when nothing is there (the verifier then fails the anchor check); throws for an
 * anchor kind this command cannot read, or when the anchor finds itself tampered with.
 */
export async function readAnchorLive(receipt: AnchorReceipt): Promise<AnchoredCheckpoint | null> {
  if (receipt.anchor !== 'file') {
    throw new CairnError('CAIRN_ANCHOR_UNAVAILABLE', `cairn verify --online reads 'file' anchors only; this receipt names a '${receipt.anchor}' anchor at ${receipt.location}. Verify without --online, or read that anchor with its own tools.`, { path: receipt.location });
  }
  const originFolder = dirname(receipt.location);
  // A folder that is gone holds nothing; opening the anchor on it would create it again.
  if (!existsSync(originFolder)) return null;
  return createLocalAuditAnchor({ directory: dirname(originFolder) }).read(receipt);
}
