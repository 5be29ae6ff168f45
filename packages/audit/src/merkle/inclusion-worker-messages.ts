import type { MessagePort } from 'node:worker_threads';

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
  /** Where each `leaves` message's buffer goes back (transferred) once hashed, to be written again. */
  readonly returnBuffers: MessagePort;
}

/**
 * The next proven leaves as the bytes they hash: each leaf's 0x00 ‖ UTF-8 canonical JSON, back to
 * back in one buffer the sender gives up (transferred, not copied); leaf i ends at `ends[i]`, the
 * first at 0.
 */
export interface InclusionWorkerLeaves {
  readonly kind: 'leaves';
  readonly bytes: Uint8Array;
  readonly ends: Uint32Array;
}

export interface InclusionWorkerResponse {
  readonly root: Uint8Array;
  readonly proofHashesTaken: number;
  readonly leavesTaken: number;
  /** Leaves received, which must be every proven leaf. */
  readonly leavesHashed: number;
  readonly exhausted: boolean;
}
