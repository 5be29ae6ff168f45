/**
 * An independent view of where an anchor keeps checkpoints: the anchor file read with `node:fs`,
 * the Object Lock bucket read with a raw client. `location` is the receipt's `location`.
 */
export interface AuditAnchorOracle {
  /** The stored checkpoint envelope bytes at `location`, or `null` when nothing is there. */
  readRaw(location: string): Promise<Uint8Array | null> | Uint8Array | null;
  /**
   * Replaces the envelope bytes stored at `location`, as an attacker holding the server would,
   * leaving whatever the anchor keeps of its receipt alone. For an `external-immutable` anchor
   * this is expected to fail (reject or throw); that is the point.
   */
  writeRaw(location: string, bytes: Uint8Array): Promise<void> | void;
}
