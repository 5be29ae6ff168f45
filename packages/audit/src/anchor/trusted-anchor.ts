import type { AnchoredCheckpoint, AnchorReceipt, CheckpointReference, GuaranteeTier } from '@cairn/core';

/**
 * An anchor the verifier trusts, named by the verifier (from its own configuration or command
 * line), never by a bundle. `verifyBundle` asks each one live for the bundle's checkpoint by its
 * tree head, whatever receipts the bundle carries or leaves out.
 *
 * `guarantee` is the verifier's own knowledge of this kind of anchor (a local `file` anchor is
 * `detect`, S3 Object Lock in compliance mode is `external-immutable`): a receipt's declared
 * guarantee is signed by the log key, whose holder is exactly who an anchor must hold in check,
 * so it never raises the claim. An `AuditAnchorV1` the caller built satisfies this with a name.
 */
export interface TrustedAnchor {
  /** How reports name it: `<kind>:<location>` (`file:/srv/cairn/anchor`). */
  readonly name: string;
  readonly guarantee: GuaranteeTier;
  /**
   * The checkpoint anchored for this tree head, or null when the anchor holds none
   * (`AuditAnchorV1.read`). `receipt`: a signed receipt of the bundle, bound to this tree head,
   * that `isOwnReceipt` accepted; the anchor checks it holds exactly what the receipt names.
   */
  read(reference: CheckpointReference, receipt?: AnchorReceipt): Promise<AnchoredCheckpoint | null>;
  /**
   * Whether a receipt was issued by this anchor (same kind, a location inside its own storage).
   * Such receipts are handed to `read`, one at a time; others are not this anchor's business.
   * Unset: receipts are never handed over (an anchor with one place per tree head needs none).
   */
  isOwnReceipt?(receipt: AnchorReceipt): boolean;
}
