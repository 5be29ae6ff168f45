/**
 * A signed tree head: the state of the audit log at `treeSize` entries. Signed as the payload of
 * a DSSE envelope (payloadType `application/vnd.cairn.checkpoint+json`, canonical JSON).
 */
export interface Checkpoint {
  /** Names the log (`cairn:<server id>`); a checkpoint of one log never verifies another. */
  readonly origin: string;
  readonly treeSize: number;
  /** RFC 6962 root hash of the first `treeSize` entries, lowercase hex. */
  readonly rootHash: string;
  /** ISO 8601 UTC time the checkpoint was issued. */
  readonly time: string;
}

/** One signature of a DSSE envelope. `keyid` is the signer's key id. */
export interface DsseSignature {
  readonly keyid: string;
  /** Base64 signature over PAE(payloadType, payload). */
  readonly sig: string;
}

/**
 * A DSSE envelope (in-toto Dead Simple Signing Envelope, JSON form). Signatures cover
 * PAE(payloadType, payload) — "DSSEv1" SP len(type) SP type SP len(body) SP body — so neither
 * the type nor the body can be swapped.
 */
export interface DsseEnvelope {
  readonly payloadType: string;
  /** Base64 of the payload bytes. */
  readonly payload: string;
  readonly signatures: readonly DsseSignature[];
}

/** Reference to an anchored checkpoint by what identifies it. */
export interface CheckpointReference {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: string;
}
