/** One stored node: the root of the perfect subtree of 2^level leaves starting at leaf index × 2^level. */
export interface MerkleNode {
  readonly level: number;
  readonly index: number;
  readonly hash: Uint8Array;
}

/**
 * Where a Merkle log keeps what its proofs need: the hash of every *complete* perfect subtree
 * (level 0 holds the leaf hashes). A log of n leaves stores fewer than 2n nodes, each written
 * once and never changed, so the store is append-only like the log.
 *
 * Synchronous on purpose: the engine backs it with SQLite (better-sqlite3) inside the same
 * transaction that writes the audit entry, so state and log cannot disagree.
 *
 * How to implement: keep nodes by (level, index); `append` must store all nodes of one call
 * atomically (all or none); `leafCount` is the number of level-0 nodes.
 */
export interface MerkleNodeStore {
  /** Number of leaves stored (level-0 nodes). */
  leafCount(): number;
  /** The node at (level, index), or undefined when that subtree is not complete. */
  get(level: number, index: number): Uint8Array | undefined;
  /** Stores one appended leaf and the nodes it completed, atomically. */
  append(nodes: readonly MerkleNode[]): void;
}
