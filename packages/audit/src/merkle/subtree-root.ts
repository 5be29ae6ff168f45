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

/** How many proof hashes the walk over [start, start+size) takes, without hashing anything. */
export function proofHashesTaken(start: number, size: number, leafIndexes: ArrayLike<number>, firstLeaf: number): { proofHashes: number; leaves: number } {
  let leaf = firstLeaf;
  let proofHashes = 0;
  const visit = (from: number, span: number) => {
    if (leaf >= leafIndexes.length || leafIndexes[leaf]! >= from + span) {
      proofHashes++;
      return;
    }
    if (span === 1) {
      leaf++;
      return;
    }
    const k = splitPoint(span);
    visit(from, k);
    visit(from + k, span - k);
  };
  visit(start, size);
  return { proofHashes, leaves: leaf - firstLeaf };
}
