import type { PublicKeyRecord, VerificationReport } from '@cairn/core';
import { readBundleFile, verifyBundle, type BundleLimits, type TrustedAnchor } from '@cairn/audit';

/** How `cairn verify` (and `cairn demo`) verify a bundle: with what the caller trusts, never what the bundle says. */
export interface VerifyEvidenceOptions {
  /** Public keys the checkpoint may be signed by (`--trusted-key-file`, the server's own key). */
  readonly trustedKeys?: readonly PublicKeyRecord[];
  /** Key ids the checkpoint may be signed by (`--trusted-key`). Without any key the verdict is `untrusted-signer`. */
  readonly trustedKeyIds?: readonly string[];
  /** Anchors read live (`--online`): from the server's config or `--anchor`, never the bundle's receipts. */
  readonly anchors?: readonly TrustedAnchor[];
  /** TSA certificates (PEM) an RFC 3161 token may be signed by (`--trusted-tsa-cert`, the server's `rfc3161` anchors). */
  readonly trustedTsaCertificates?: readonly string[];
  /** What is read of the bundle before refusing it (`bundleLimits` for any left out; `--max-bundle-bytes`). */
  readonly limits?: Partial<BundleLimits>;
  /**
   * The artifacts' contents (`--artifacts`), by digest: `artifactFolderReader(folder)`. With it each
   * content is checked against its digest and each egress record is read and counted; without it
   * only digests are checked, and the report says the contents were not fetched.
   */
  readonly readArtifact?: (digest: string) => Promise<Uint8Array | null>;
}

/**
 * Reads a bundle file for `verifyEvidence` within `limits` (pass it the same): a FIFO, a device or
 * a file over a limit is refused with CAIRN_PAYLOAD_INVALID (bad input, exit 2) naming the path
 * and the limit, before it is read whole.
 */
export function readEvidenceFile(file: string, limits: Partial<BundleLimits> = {}): Uint8Array {
  return readBundleFile(file, { limits, what: 'the evidence bundle', limitOption: '--max-bundle-bytes' });
}

/** Verifies an evidence bundle's bytes. Never throws for a bad bundle. */
export async function verifyEvidence(bytes: Uint8Array, options: VerifyEvidenceOptions = {}): Promise<VerificationReport> {
  return verifyBundle(bytes, {
    ...(options.trustedKeys && options.trustedKeys.length > 0 ? { trustedKeys: options.trustedKeys } : {}),
    ...(options.trustedKeyIds && options.trustedKeyIds.length > 0 ? { pinnedKeyIds: options.trustedKeyIds } : {}),
    ...(options.anchors && options.anchors.length > 0 ? { trustedAnchors: options.anchors } : {}),
    ...(options.trustedTsaCertificates && options.trustedTsaCertificates.length > 0 ? { trustedTsaCertificates: options.trustedTsaCertificates } : {}),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.readArtifact === undefined ? {} : { readArtifact: options.readArtifact }),
  });
}

/**
 * The exit code of a verification: 0 verified, 1 a check failed, 4 nothing failed but no trusted
 * key was given (self-consistent, signer not trusted). 2 (bad input) and 3 (anything else) come
 * from the command line itself.
 */
export function verificationExitCode(report: VerificationReport): number {
  return report.verdict === 'verified' ? 0 : report.verdict === 'failed' ? 1 : 4;
}
