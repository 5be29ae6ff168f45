/**
 * What the inclusion worker is sent, in order: `begin` (the tree and the proof), `leaves` as many
 * times as it takes to send every proven leaf's text, then `end`, to which it answers with an
 * `InclusionWorkerResponse`.
 */
export type InclusionWorkerMessage = InclusionWorkerBegin | InclusionWorkerLeaves | { readonly kind: 'end' };

export interface InclusionWorkerBegin {
  readonly kind: 'begin';
  readonly treeSize: number;
  /** Leaf indexes of the proven leaves, sorted and distinct. */
  readonly indexes: Float64Array;
  /** The multiproof's hashes, 32 bytes each, in walk order. */
  readonly proof: Uint8Array;
}

/**
 * The canonical JSON texts of the next proven leaves, back to back in one string (one copy to
 * send, where a million strings would each be cloned); leaf i is `lengths[i]` UTF-16 code units.
 */
export interface InclusionWorkerLeaves {
  readonly kind: 'leaves';
  readonly texts: string;
  readonly lengths: Uint32Array;
}

export interface InclusionWorkerResponse {
  readonly root: Uint8Array;
  readonly proofHashesTaken: number;
  readonly leavesTaken: number;
  /** Leaves received, which must be every proven leaf. */
  readonly leavesHashed: number;
  readonly exhausted: boolean;
}
