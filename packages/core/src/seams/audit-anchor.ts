import type { CheckpointReference } from '../model/checkpoint.ts';
import type { AnchorReceipt, GuaranteeTier } from '../model/evidence.ts';

/** A checkpoint to anchor: what identifies it and the exact envelope bytes. */
export interface AnchorCheckpoint extends CheckpointReference {
  /** The DSSE envelope as canonical JSON bytes, stored and returned unchanged. */
  readonly envelope: Uint8Array;
}

/** An anchored checkpoint read back live. */
export interface AnchoredCheckpoint {
  readonly envelope: Uint8Array;
  readonly receipt: AnchorReceipt;
}

/**
 * Keeps signed checkpoints outside the audit log, where rewriting the log cannot reach them, and
 * reads them back live for verifiers.
 *
 * Guarantees:
 * - `anchor` is idempotent: anchoring the same tree head (origin, treeSize, rootHash) again —
 *   a retry, or a re-signed envelope of it (ECDSA signatures differ each time) — returns the
 *   first receipt and keeps the first envelope. Another rootHash for an anchored (origin,
 *   treeSize) is refused with CAIRN_ANCHOR_CONFLICT (equivocation) and changes nothing.
 * - `read` returns `null` when nothing is anchored for the reference, and the stored bytes
 *   exactly otherwise; when what it finds no longer matches the receipt it wrote (digest, root),
 *   it throws CAIRN_ANCHOR_TAMPERED rather than return it.
 * - `read` with a `receipt` (the one a bundle carries for this anchor, already checked to be
 *   signed and bound to the reference): the anchor also checks that it holds exactly what that
 *   receipt names (for S3 Object Lock: the version id, its bytes, its retention) and throws
 *   CAIRN_ANCHOR_TAMPERED when it does not. An anchor whose storage has one place per tree head
 *   (a file) may ignore it; the receipt never tells the anchor where to read outside its own
 *   storage.
 * - `guarantee` is honest: only an anchor nobody can alter (the operator included) may declare
 *   `external-immutable`.
 *
 * Errors: CAIRN_ANCHOR_CONFLICT, CAIRN_ANCHOR_TAMPERED, CAIRN_ANCHOR_UNAVAILABLE (the engine queues
 * the checkpoint and retries; it never drops one).
 *
 * How to implement: key the stored object by origin and tree size, use the store's conditional
 * create so two writers cannot both succeed, bind the receipt to the envelope's digest, and run
 * `describeAuditAnchor` from `@cairn/conformance` with an oracle that can tamper with storage.
 */
export interface AuditAnchorV1 {
  readonly specificationVersion: 'v1';
  readonly provider: string;
  readonly guarantee: GuaranteeTier;
  anchor(checkpoint: AnchorCheckpoint): Promise<AnchorReceipt>;
  read(reference: CheckpointReference, receipt?: AnchorReceipt): Promise<AnchoredCheckpoint | null>;
}
