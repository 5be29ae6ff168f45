import { expect, test } from 'vitest';
import { leafHash } from './merkle-hash.ts';
import { MerkleLog } from './merkle-log.ts';
import { ResumableMultiproofWalk } from './resumable-multiproof-walk.ts';
import { subtreeRoot, type WalkCursor } from './subtree-root.ts';

// A small deterministic generator, so that a failure names a case that can be run again.
function generator(seed: number) {
  let state = seed >>> 0;
  return (below: number) => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state % below;
  };
}

const packed = (hashes: readonly Uint8Array[]) => {
  const bytes = new Uint8Array(hashes.length * 32);
  hashes.forEach((hash, index) => bytes.set(hash, index * 32));
  return bytes;
};

/** The recursive walk and the resumable one, fed its leaves in `steps` pieces: the same root and cursor. */
function bothWalks(treeSize: number, indexes: readonly number[], leaves: readonly Uint8Array[], proof: readonly Uint8Array[], steps: readonly number[]) {
  const cursor: WalkCursor = { leaf: 0, proof: 0, exhausted: false };
  const root = subtreeRoot(0, treeSize, indexes, (position) => leaves[position]!, proof, cursor);
  const walk = new ResumableMultiproofWalk(treeSize, indexes, packed(leaves), packed(proof));
  for (const available of steps) walk.advance(available);
  return { recursive: { root, ...cursor }, resumable: { root: walk.root, leaf: walk.leavesTaken, proof: walk.proofHashesTaken, exhausted: walk.exhausted } };
}

test('the resumable walk computes the recursive walk’s root and cursor for any tree, leaves, proof and pauses', () => {
  const random = generator(57);
  for (let round = 0; round < 300; round++) {
    const size = 1 + random(300);
    const log = MerkleLog.open();
    const data = Array.from({ length: size }, (_, index) => new TextEncoder().encode(`leaf ${round}/${index}`));
    for (const bytes of data) log.append(bytes);
    const indexes = [...new Set(Array.from({ length: 1 + random(size) }, () => random(size)))].sort((a, b) => a - b);
    const proof = log.multiInclusionProof(indexes);
    const leaves = indexes.map((index) => leafHash(data[index]!));
    // Paused before every leaf, at random points, or given everything at once.
    const steps =
      round % 3 === 0
        ? Array.from({ length: leaves.length + 1 }, (_, index) => index)
        : round % 3 === 1
          ? [...Array.from({ length: 4 }, () => random(leaves.length + 1)).sort((a, b) => a - b), leaves.length]
          : [leaves.length];
    const { recursive, resumable } = bothWalks(size, indexes, leaves, proof, steps);
    expect(resumable).toEqual(recursive);
    expect(Buffer.from(resumable.root!).equals(Buffer.from(log.rootHash()))).toBe(true);
    // Broken proofs: one hash short (the walk runs out), one too many, one changed.
    for (const broken of [proof.slice(0, -1), [...proof, leaves[0]!], proof.map((hash, index) => (index === 0 ? leaves[0]! : hash))]) {
      const again = bothWalks(size, indexes, leaves, broken, steps);
      expect(again.resumable).toEqual(again.recursive);
    }
  }
});

test('the resumable walk stops at the first leaf not yet hashed and has no root until it has every leaf', () => {
  const log = MerkleLog.open();
  const data = Array.from({ length: 10 }, (_, index) => new TextEncoder().encode(`entry ${index}`));
  for (const bytes of data) log.append(bytes);
  const indexes = [2, 3, 7];
  const leaves = packed(indexes.map((index) => leafHash(data[index]!)));
  const walk = new ResumableMultiproofWalk(log.size, indexes, leaves, packed(log.multiInclusionProof(indexes)));
  walk.advance(0);
  expect(walk.leavesTaken).toBe(0);
  expect(walk.root).toBeUndefined();
  walk.advance(2);
  expect(walk.leavesTaken).toBe(2);
  expect(walk.root).toBeUndefined();
  walk.advance(3);
  expect(walk.leavesTaken).toBe(3);
  expect(walk.exhausted).toBe(false);
  expect(Buffer.from(walk.root!).equals(Buffer.from(log.rootHash()))).toBe(true);
});
