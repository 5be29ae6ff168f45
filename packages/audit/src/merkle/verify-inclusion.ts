import { assertTreeSize } from './proof-arguments.ts';
import { hashLength, nodeHash } from './merkle-hash.ts';
import { half, isOdd } from './merkle-math.ts';
import { equalHashes } from './equal-hashes.ts';

/**
 * Verifies an RFC 9162 (section 2.1.3.2) inclusion proof: that the leaf with hash `leafHash` sits
 * at `leafIndex` in the tree of `treeSize` leaves whose root is `rootHash`.
 *
 * Returns false when the proof does not verify — including an index outside the tree, a proof of
 * the wrong length and hashes of the wrong length (they never match a computed hash). Throws
 * CAIRN_AUDIT_PROOF_INVALID only for a size or index that is not a whole number from 0.
 */
export function verifyInclusion(leafIndex: number, treeSize: number, leafHash: Uint8Array, proof: readonly Uint8Array[], rootHash: Uint8Array): boolean {
  assertTreeSize(leafIndex, 'leafIndex');
  assertTreeSize(treeSize, 'treeSize');
  // A leaf hash of another length is no leaf (RFC 9162 hashes are 32 bytes): it never verifies,
  // even against an equally malformed root.
  if (leafIndex >= treeSize || leafHash.byteLength !== hashLength) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let result = leafHash;
  for (const sibling of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      result = nodeHash(sibling, result);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      result = nodeHash(result, sibling);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalHashes(result, rootHash);
}
