import { hashLength, nodeHash } from './merkle-hash.ts';
import { splitPoint } from './merkle-math.ts';

/** Where a multiproof walk stands: the next leaf and the next proof hash to take. */
export interface WalkCursor {
  leaf: number;
  proof: number;
  /** Set when the walk needed a proof hash beyond the end of the proof. */
  exhausted: boolean;
}

/**
 * The multiproof walk over the range [start, start+size) (see docs/audit/formats.md): the root of
 * that range from the leaf hashes (`leafHashes(i)` for the i-th proven leaf, whose index is
 * `leafIndexes[i]`) and the proof hashes, advancing `cursor`. Shared by the one-thread verifier
 * and the parallel one, which runs it on two halves of the tree at once.
 */
export function subtreeRoot(
  start: number,
  size: number,
  leafIndexes: ArrayLike<number>,
  leafHash: (position: number) => Uint8Array,
  proof: readonly Uint8Array[],
  cursor: WalkCursor,
): Uint8Array {
  if (cursor.leaf >= leafIndexes.length || leafIndexes[cursor.leaf]! >= start + size) {
    const sibling = proof[cursor.proof++];
    if (sibling !== undefined) return sibling;
    cursor.exhausted = true;
    return new Uint8Array(hashLength);
  }
  if (size === 1) return leafHash(cursor.leaf++);
  const k = splitPoint(size);
  const left = subtreeRoot(start, k, leafIndexes, leafHash, proof, cursor);
  return nodeHash(left, subtreeRoot(start + k, size - k, leafIndexes, leafHash, proof, cursor));
}

/**
 * Walks the RFC 6962 tree over [start, start+size) depth first, left to right, descending only
 * into subtrees that hold some of `leafIndexes` (sorted, distinct) from position `firstLeaf`.
 * Every maximal subtree without one of them is `onSibling(start, size)` — exactly the hashes a
 * multiproof lists, in its order. Returns the position after the last leaf the range held.
 */
export function walkMultiproof(
  start: number,
  size: number,
  leafIndexes: ArrayLike<number>,
  firstLeaf: number,
  onSibling: (start: number, size: number) => void,
): number {
  let leaf = firstLeaf;
  const visit = (from: number, span: number) => {
    if (leaf >= leafIndexes.length || leafIndexes[leaf]! >= from + span) return onSibling(from, span);
    if (span === 1) {
      leaf++;
      return;
    }
    const k = splitPoint(span);
    visit(from, k);
    visit(from + k, span - k);
  };
  visit(start, size);
  return leaf;
}

/** How many proof hashes and leaves the walk over [start, start+size) takes, without hashing. */
export function proofHashesTaken(start: number, size: number, leafIndexes: ArrayLike<number>, firstLeaf: number): { proofHashes: number; leaves: number } {
  let proofHashes = 0;
  const end = walkMultiproof(start, size, leafIndexes, firstLeaf, () => proofHashes++);
  return { proofHashes, leaves: end - firstLeaf };
}
