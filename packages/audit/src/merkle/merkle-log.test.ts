import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isCairnError } from '@cairn/protocol';
import { InMemoryMerkleNodeStore } from './in-memory-merkle-node-store.ts';
import { emptyTreeHash, leafHash, nodeHash } from './merkle-hash.ts';
import { MerkleLog } from './merkle-log.ts';
import { verifyConsistency } from './verify-consistency.ts';
import { verifyInclusion } from './verify-inclusion.ts';
import { verifyMultiInclusion } from './multi-inclusion-proof.ts';

/** RFC 6962 MTH, written naively from the definition: the reference the log is checked against. */
function referenceRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return emptyTreeHash();
  if (leaves.length === 1) return leafHash(leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

const entry = (index: number) => new TextEncoder().encode(`entry ${index}`);

function logOf(size: number, store = new InMemoryMerkleNodeStore()): MerkleLog {
  const log = MerkleLog.open(store);
  for (let index = 0; index < size; index++) log.append(entry(index));
  return log;
}

function flipBit(hash: Uint8Array, bit: number): Uint8Array {
  const copy = Uint8Array.from(hash);
  copy[Math.floor(bit / 8) % copy.length]! ^= 1 << (bit % 8);
  return copy;
}

describe('MerkleLog', () => {
  test('every past root equals the naive RFC 6962 definition', () => {
    const log = logOf(70);
    const leaves = Array.from({ length: 70 }, (_, index) => entry(index));
    for (let size = 0; size <= 70; size++) expect(log.rootHash(size)).toEqual(referenceRoot(leaves.slice(0, size)));
  });

  test('property: inclusion proofs verify, and any flipped bit fails them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), fc.nat(), (treeSize, pick, bit, target) => {
        const log = logOf(treeSize);
        const leafIndex = pick % treeSize;
        const proof = log.inclusionProof(leafIndex, treeSize);
        const root = log.rootHash(treeSize);
        const leaf = log.leafHash(leafIndex);
        expect(verifyInclusion(leafIndex, treeSize, leaf, proof, root)).toBe(true);
        expect(verifyInclusion(leafIndex, treeSize, flipBit(leaf, bit), proof, root)).toBe(false);
        expect(verifyInclusion(leafIndex, treeSize, leaf, proof, flipBit(root, bit))).toBe(false);
        if (proof.length > 0) {
          const tampered = proof.map((hash, index) => (index === target % proof.length ? flipBit(hash, bit) : hash));
          expect(verifyInclusion(leafIndex, treeSize, leaf, tampered, root)).toBe(false);
          expect(verifyInclusion(leafIndex, treeSize, leaf, proof.slice(1), root)).toBe(false);
        }
        if (treeSize > 1) expect(verifyInclusion((leafIndex + 1) % treeSize, treeSize, leaf, proof, root)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  test('property: consistency proofs verify between any two sizes, and any flipped bit fails them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), fc.nat(), (size2, pick, bit, target) => {
        const log = logOf(size2);
        const size1 = 1 + (pick % size2);
        const proof = log.consistencyProof(size1, size2);
        const root1 = log.rootHash(size1);
        const root2 = log.rootHash(size2);
        expect(verifyConsistency(size1, size2, proof, root1, root2)).toBe(true);
        expect(verifyConsistency(size1, size2, proof, flipBit(root1, bit), root2)).toBe(false);
        expect(verifyConsistency(size1, size2, proof, root1, flipBit(root2, bit))).toBe(false);
        if (proof.length > 0) {
          const tampered = proof.map((hash, index) => (index === target % proof.length ? flipBit(hash, bit) : hash));
          expect(verifyConsistency(size1, size2, tampered, root1, root2)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('property: a multiproof of any set of leaves verifies, and every change to it fails', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.nat(),
        (treeSize, picks, bit, target) => {
          const log = logOf(treeSize);
          const indexes = [...new Set(picks.map((pick) => pick % treeSize))].sort((a, b) => a - b);
          const leaves = indexes.map((index) => ({ index, hash: log.leafHash(index) }));
          const proof = log.multiInclusionProof(indexes, treeSize);
          const root = log.rootHash(treeSize);
          expect(verifyMultiInclusion(treeSize, leaves, proof, root)).toBe(true);
          expect(verifyMultiInclusion(treeSize, leaves, proof, flipBit(root, bit))).toBe(false);
          const changed = leaves.map((leaf, index) => (index === target % leaves.length ? { ...leaf, hash: flipBit(leaf.hash, bit) } : leaf));
          expect(verifyMultiInclusion(treeSize, changed, proof, root)).toBe(false);
          expect(verifyMultiInclusion(treeSize, leaves, [...proof, root], root)).toBe(false);
          if (proof.length > 0) {
            expect(verifyMultiInclusion(treeSize, leaves, proof.slice(1), root)).toBe(false);
            expect(
              verifyMultiInclusion(
                treeSize,
                leaves,
                proof.map((hash, index) => (index === target % proof.length ? flipBit(hash, bit) : hash)),
                root,
              ),
            ).toBe(false);
          }
          if (leaves.length > 1) expect(verifyMultiInclusion(treeSize, leaves.slice(1), proof, root)).toBe(false);
          // One leaf's multiproof holds the same hashes as its RFC 6962 path.
          expect(new Set(log.multiInclusionProof([indexes[0]!], treeSize).map((hash) => Buffer.from(hash).toString('hex')))).toEqual(
            new Set(log.inclusionProof(indexes[0]!, treeSize).map((hash) => Buffer.from(hash).toString('hex'))),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a multiproof of a contiguous range is O(log n) hashes', () => {
    const log = logOf(1000);
    const indexes = Array.from({ length: 500 }, (_, index) => 250 + index);
    expect(log.multiInclusionProof(indexes).length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(1000)));
  });

  test('multiproof leaves out of order are refused', () => {
    const log = logOf(8);
    expect(() => log.multiInclusionProof([3, 1])).toThrow(/sorted and distinct/);
    expect(() =>
      verifyMultiInclusion(
        8,
        [
          { index: 3, hash: log.leafHash(3) },
          { index: 3, hash: log.leafHash(3) },
        ],
        [],
        log.rootHash(),
      ),
    ).toThrow(/sorted, distinct/);
  });

  test('property: a log reopened over its store gives the same roots and proofs, and continues', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (size, pickSize, pickLeaf) => {
        const store = new InMemoryMerkleNodeStore();
        const first = logOf(size, store);
        const reopened = MerkleLog.open(store);
        const pastSize = 1 + (pickSize % size);
        const leafIndex = pickLeaf % pastSize;
        expect(reopened.size).toBe(size);
        expect(reopened.rootHash()).toEqual(first.rootHash());
        expect(reopened.rootHash(pastSize)).toEqual(first.rootHash(pastSize));
        expect(reopened.inclusionProof(leafIndex, pastSize)).toEqual(first.inclusionProof(leafIndex, pastSize));
        expect(reopened.consistencyProof(pastSize, size)).toEqual(first.consistencyProof(pastSize, size));
        reopened.append(entry(size));
        expect(reopened.rootHash()).toEqual(referenceRoot(Array.from({ length: size + 1 }, (_, index) => entry(index))));
      }),
      { numRuns: 100 },
    );
  });

  test('appends store fewer than two nodes per leaf', () => {
    const store = new InMemoryMerkleNodeStore();
    let stored = 0;
    const counting = {
      leafCount: () => store.leafCount(),
      get: store.get.bind(store),
      append: (nodes: Parameters<typeof store.append>[0]) => ((stored += nodes.length), store.append(nodes)),
    };
    const log = MerkleLog.open(counting);
    for (let index = 0; index < 1024; index++) log.append(entry(index));
    expect(stored).toBe(2 * 1024 - 1);
  });

  test('a store missing nodes is reported as CAIRN_AUDIT_LOG_CORRUPT, not a wrong proof', () => {
    const log = MerkleLog.open({ leafCount: () => 10, get: () => undefined, append: () => undefined });
    try {
      log.rootHash();
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_AUDIT_LOG_CORRUPT')).toBe(true);
    }
  });

  test('bad sizes and indexes are refused with CAIRN_AUDIT_PROOF_INVALID', () => {
    const log = logOf(4);
    for (const call of [
      () => log.rootHash(5),
      () => log.inclusionProof(4, 4),
      () => log.inclusionProof(-1),
      () => log.consistencyProof(0, 4),
      () => log.consistencyProof(3, 2),
      () => log.inclusionProof(0.5),
    ]) {
      expect(call).toThrow(expect.objectContaining({ code: 'CAIRN_AUDIT_PROOF_INVALID' }));
    }
  });

  test('verifiers refuse negative sizes with CAIRN_AUDIT_PROOF_INVALID, and reject short hashes and size1 = 0', () => {
    const hash = leafHash(entry(0));
    expect(verifyInclusion(0, 1, hash.subarray(1), [], hash)).toBe(false);
    expect(() => verifyInclusion(-1, 1, hash, [], hash)).toThrow(/whole number/);
    expect(verifyConsistency(0, 1, [], emptyTreeHash(), hash)).toBe(false);
    expect(verifyConsistency(0, 0, [], emptyTreeHash(), emptyTreeHash())).toBe(false);
    expect(verifyConsistency(2, 1, [hash], hash, hash)).toBe(false);
  });
});
