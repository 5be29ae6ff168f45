import type { Digest } from './digest.ts';

/**
 * What an anchor promises about a checkpoint once anchored:
 * - `detect`: kept where the server's operator could still change it (a local file); tampering
 *   is detected by a verifier holding an earlier copy, not prevented.
 * - `external-immutable`: written where nobody, the operator included, can alter or delete it
 *   until retention ends (S3 Object Lock in compliance mode).
 */
export type GuaranteeTier = 'detect' | 'external-immutable';

/**
 * What a verified evidence bundle supports — never more than was checked:
 * - `tamper-detecting`: signatures and proofs verify, but the anchor is local, or something was
 *   not checked or failed.
 * - `tamper-evident`: additionally, an external-immutable anchor was read live and matches.
 * - `witnessed`: additionally, an RFC 3161 timestamp over the checkpoint verified against a
 *   trusted TSA certificate.
 */
export type EvidenceClaim = 'tamper-detecting' | 'tamper-evident' | 'witnessed';

/**
 * Proof that an anchor holds a checkpoint envelope. Bound to the envelope by digest, so a receipt
 * cannot be moved to another checkpoint. Its `anchor`, `location` and `guarantee` are what the
 * anchor said when it was written, signed by the log key: a verifier never reads the anchor a
 * receipt names nor believes the guarantee it declares (the log key's holder is who an anchor must
 * hold in check); it reads the anchors it trusts and knows their guarantees itself.
 */
export interface AnchorReceipt {
  /** The `provider` of the anchor (`file`, `s3-object-lock`). */
  readonly anchor: string;
  readonly guarantee: GuaranteeTier;
  /** Where it is (a path, `s3://bucket/key?versionId=...`). */
  readonly location: string;
  readonly anchoredAt: string;
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: string;
  /** sha256 of the anchored envelope bytes. */
  readonly envelopeDigest: Digest;
  /** ISO time until which the anchor cannot be altered, for `external-immutable`. */
  readonly retainUntil?: string;
  /**
   * An RFC 3161 timestamp token (base64 DER) over the anchored envelope bytes, from an anchor that
   * is a timestamp authority (`rfc3161`): it holds nothing to read back, the token is its evidence.
   * An evidence bundle carries it as `timestamp.token`.
   */
  readonly timestampToken?: string;
}

/** Names of the checks a verifier reports, in the order it runs them. */
export type VerificationCheckName =
  | 'entries'
  | 'completeness'
  | 'inclusion'
  | 'checkpoint-signature'
  | 'manifests'
  | 'artifacts'
  | 'anchor'
  | 'timestamp'
  /** Every best-of-N round the run decided follows from its `candidate.checked` entries and the spec's order (ADR 0053). */
  | 'candidates';

export type VerificationCheckStatus = 'pass' | 'fail' | 'not-checked';

/** One check's verdict; `detail` names the first failure's location when it failed. */
export interface VerificationCheck {
  readonly name: VerificationCheckName;
  readonly status: VerificationCheckStatus;
  readonly detail: string;
}

/**
 * What a verification concluded, before the claim:
 * - `verified`: every check that ran passed, and the signatures were checked against keys the
 *   caller trusts (given by the caller, or pinned by key id), never only keys from the bundle.
 * - `failed`: a check failed; its detail names what and where.
 * - `untrusted-signer`: no check failed, but the caller named no key to trust, so the bundle was
 *   checked only against the keys it carries: it is self-consistent, and anyone with a fresh key
 *   can make such a bundle. Not a verification.
 */
export type VerificationVerdict = 'verified' | 'failed' | 'untrusted-signer';

/**
 * The connections of one attempt's egress record (the `egress` artifact, ADR 0049), counted by a
 * verifier that read the record and found its digest and every line well formed.
 */
export interface EgressRecordCounts {
  readonly itemId: string;
  readonly attempt: number;
  /** The record's digest, as the bundle lists it. */
  readonly digest: Digest;
  /** Connections that ran to their end (`decision: allowed`). */
  readonly allowed: number;
  /** Connections refused before any byte reached the host (`decision: refused`). */
  readonly refused: number;
  /** Connections the proxy ended mid-way (`decision: cut`). */
  readonly cut: number;
  /** The refused connections by reason, in the order each reason first appears in the record. */
  readonly refusedBy: Readonly<Record<string, number>>;
  /** The cut connections by reason, as `refusedBy`. */
  readonly cutBy: Readonly<Record<string, number>>;
}

/**
 * A verifier's answer: the verdict, the claim the evidence supports and every check behind it.
 * `valid` is true exactly when the verdict is `verified`. The claim is `tamper-detecting` unless
 * the verdict is `verified` (what was detected is in the failed check's detail), never more.
 */
export interface VerificationReport {
  readonly valid: boolean;
  readonly verdict: VerificationVerdict;
  readonly claim: EvidenceClaim;
  readonly checks: readonly VerificationCheck[];
  /**
   * Each attempt's egress record counted, ordered by item and attempt. Present (empty for a run
   * without one) only when the artifacts' contents were fetched and the `artifacts` check passed
   * with them; absent otherwise: a record whose contents were not read is never counted.
   */
  readonly egress?: readonly EgressRecordCounts[];
}
