import { assertTreeSize } from './proof-arguments.ts';
import { nodeHash } from './merkle-hash.ts';
import { half, isOdd, isPowerOfTwo } from './merkle-math.ts';
import { equalHashes } from './equal-hashes.ts';

/**
 * Verifies an RFC 9162 (section 2.1.4.2) consistency proof: that the tree of `size2` leaves with
 * root `root2` extends the tree of `size1` leaves with root `root1` (nothing rewritten, only
 * appended).
 *
 * Equal sizes are consistent exactly when the proof is empty and the roots are equal. A proof
 * from the empty tree (`size1 = 0`) is meaningless and rejected, as RFC 9162 says, as is
 * `size1 > size2`. Returns false when the proof does not verify; throws
 * CAIRN_AUDIT_PROOF_INVALID only for a size that is not a whole number from 0.
 *
 * Hashes of the wrong length are not an error: with equal sizes the check is only "same root,
 * empty proof" (the shared transparency-dev vector `sizes are equal (one) and proof is empty`
 * expects 12-byte roots to be accepted there), and anywhere else a wrong-length hash never equals
 * a computed one, so the proof simply fails.
 */
export function verifyConsistency(size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean {
  assertTreeSize(size1, 'size1');
  assertTreeSize(size2, 'size2');
  if (size1 === 0 || size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && equalHashes(root1, root2);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let firstRoot = path[0]!;
  let secondRoot = path[0]!;
  for (const node of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      firstRoot = nodeHash(node, firstRoot);
      secondRoot = nodeHash(node, secondRoot);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      secondRoot = nodeHash(secondRoot, node);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalHashes(firstRoot, root1) && equalHashes(secondRoot, root2);
}
