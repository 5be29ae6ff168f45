/** What the inclusion worker is asked: the root of [start, start+size) for these leaves. */
export interface InclusionWorkerRequest {
  readonly start: number;
  readonly size: number;
  /** Leaf indexes of the proven leaves in the range, sorted. */
  readonly indexes: Float64Array;
  /**
   * The leaves' input bytes, each 0x00 followed by its canonical JSON (so a leaf hash is one hash
   * of a view), back to back in shared memory; leaf i is bytes[offsets[i], offsets[i+1]).
   */
  readonly bytes: Uint8Array;
  readonly offsets: Float64Array;
  /** The proof hashes the range takes, 32 bytes each, in walk order. */
  readonly proof: Uint8Array;
}

export interface InclusionWorkerResponse {
  readonly root: Uint8Array;
  readonly proofHashesTaken: number;
  readonly leavesTaken: number;
  readonly exhausted: boolean;
}
