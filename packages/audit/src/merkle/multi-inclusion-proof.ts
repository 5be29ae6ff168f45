import { CairnError } from '@cairn/protocol';
import { assertTreeSize } from './proof-arguments.ts';
import { equalHashes } from './equal-hashes.ts';
import { hashLength } from './merkle-hash.ts';
import { subtreeRoot, type WalkCursor } from './subtree-root.ts';

/** A leaf whose inclusion is proven: its index in the tree and its leaf hash. */
export interface ProvenLeaf {
  readonly index: number;
  readonly hash: Uint8Array;
}

/**
 * Verifies that all `leaves` (sorted by index, distinct) are in the tree of `treeSize` leaves
 * with root `rootHash`, using one multiproof: the hashes of the maximal subtrees holding none of
 * them, left to right (see `MerkleLog.multiInclusionProof`). Each shared node is hashed once, so
 * checking k leaves costs O(k log(n/k)) hashes instead of k separate proofs' O(k log n).
 *
 * Returns false when the proof does not verify (too few or too many hashes included); throws
 * CAIRN_AUDIT_PROOF_INVALID for leaves out of order, repeated or outside the tree.
 */
export function verifyMultiInclusion(treeSize: number, leaves: readonly ProvenLeaf[], proof: readonly Uint8Array[], rootHash: Uint8Array): boolean {
  assertTreeSize(treeSize, 'treeSize');
  leaves.forEach((leaf, position) => {
    const previous = leaves[position - 1];
    if (!Number.isSafeInteger(leaf.index) || leaf.index < 0 || leaf.index >= treeSize || (previous !== undefined && previous.index >= leaf.index)) {
      throw new CairnError(
        'CAIRN_AUDIT_PROOF_INVALID',
        `leaves[${position}] has index ${leaf.index}: leaves must be sorted, distinct and below the tree size ${treeSize}.`,
        {
          path: `leaves[${position}]`,
        },
      );
    }
  });
  if (leaves.length === 0 || leaves.some((leaf) => leaf.hash.byteLength !== hashLength)) return false;
  const cursor: WalkCursor = { leaf: 0, proof: 0, exhausted: false };
  const indexes = leaves.map((leaf) => leaf.index);
  const computed = subtreeRoot(0, treeSize, indexes, (position) => leaves[position]!.hash, proof, cursor);
  return !cursor.exhausted && cursor.proof === proof.length && equalHashes(computed, rootHash);
}
