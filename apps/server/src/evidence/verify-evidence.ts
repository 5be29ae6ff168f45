import type { VerificationReport } from '@cairn/core';
import { verifyBundle } from '@cairn/audit';

/** How `cairn verify` (and `cairn demo`) verify a bundle. */
export interface VerifyEvidenceOptions {
  /** Key ids the checkpoint must be signed by (`--trusted-key`); without them the bundle's own keys are used and the claim says so. */
  readonly trustedKeyIds?: readonly string[];
  /** Also read each anchor live (`--online`); otherwise nothing leaves this machine's memory. */
  readonly online?: boolean;
}

/**
 * Verifies an evidence bundle's bytes: offline, or with its anchors read live (the anchor reader,
 * and the local seams it opens, are loaded only then). Never throws for a bad bundle.
 */
export async function verifyEvidence(bytes: Uint8Array, options: VerifyEvidenceOptions = {}): Promise<VerificationReport> {
  const readAnchor = options.online ? (await import('./read-anchor-live.ts')).readAnchorLive : undefined;
  return verifyBundle(bytes, {
    ...(options.trustedKeyIds && options.trustedKeyIds.length > 0 ? { pinnedKeyIds: options.trustedKeyIds } : {}),
    ...(readAnchor ? { readAnchor } : {}),
  });
}
