import { hash } from 'node:crypto';
import { hashLength } from './merkle-hash.ts';
import { splitPoint } from './merkle-math.ts';

// Deeper than any tree: each level at least halves the range, and a tree size is a safe integer.
const maxDepth = 64;
const pendingLeft = 1;
const pendingRight = 2;
const nodeInputLength = 1 + 2 * hashLength;
const zeroHash = new Uint8Array(hashLength);

/**
 * `subtreeRoot(0, treeSize, …)` (the multiproof walk of docs/audit/formats.md) as a machine that
 * can stop where it needs a leaf hash not yet computed and go on once more are: the inclusion
 * worker walks the tree while the leaves' texts still arrive, instead of after the last of them
 * (a million leaves: a million node hashes that would otherwise follow all the leaf hashes).
 *
 * The same steps in the same order as the recursive walk, so the same root and the same cursor:
 * leaf hashes and proof hashes taken left to right, a proof hash missing read as 32 zero bytes and
 * `exhausted` set. Every hash is 32 bytes (the caller refuses a proof holding another length). No
 * array per node: each pending range's node input sits in one buffer, a slot per depth.
 */
export class ResumableMultiproofWalk {
  /** Where the walk stands: the next leaf and proof hash to take, and whether the proof ran out. */
  leavesTaken = 0;
  proofHashesTaken = 0;
  exhausted = false;
  /** The root, once the walk has ended. */
  root: Uint8Array | undefined;

  private readonly leafIndexes: ArrayLike<number>;
  private readonly leafHashes: Uint8Array;
  private readonly proof: Uint8Array;
  private readonly starts = new Float64Array(maxDepth);
  private readonly sizes = new Float64Array(maxDepth);
  private readonly splits = new Float64Array(maxDepth);
  private readonly stages = new Uint8Array(maxDepth);
  // Each pending range's node input, 0x01 ‖ left ‖ right, filled as its halves' roots come in, and
  // a view of each made once: no array allocated per node.
  private readonly inputs = new Uint8Array(maxDepth * nodeInputLength);
  private readonly inputViews = Array.from({ length: maxDepth }, (_, depth) => this.inputs.subarray(depth * nodeInputLength, (depth + 1) * nodeInputLength));
  private depth = 0;

  /**
   * @param leafIndexes the proven leaves' indexes, sorted and distinct (the caller checks)
   * @param leafHashes their leaf hashes, 32 bytes each back to back, filled as they are computed
   * @param proof the multiproof's hashes, 32 bytes each back to back, in walk order
   */
  constructor(treeSize: number, leafIndexes: ArrayLike<number>, leafHashes: Uint8Array, proof: Uint8Array) {
    this.leafIndexes = leafIndexes;
    this.leafHashes = leafHashes;
    this.proof = proof;
    for (let depth = 0; depth < maxDepth; depth++) this.inputs[depth * nodeInputLength] = 0x01;
    this.push(0, treeSize);
  }

  /** Walks on while the leaf it needs is among the first `available` leaf hashes. */
  advance(available: number): void {
    const { leafIndexes, starts, sizes, stages } = this;
    while (this.depth > 0) {
      const top = this.depth - 1;
      const start = starts[top]!;
      const size = sizes[top]!;
      if (this.leavesTaken >= leafIndexes.length || leafIndexes[this.leavesTaken]! >= start + size) {
        // A maximal subtree holding no proven leaf: its hash is the proof's next one.
        this.depth--;
        if (this.proofHashesTaken < this.proof.byteLength / hashLength) this.deliver(this.proof, this.proofHashesTaken * hashLength);
        else {
          this.exhausted = true;
          this.deliver(zeroHash, 0);
        }
        // Counted even past the end, as the recursive walk counts it.
        this.proofHashesTaken++;
      } else if (size === 1) {
        if (this.leavesTaken >= available) return;
        this.depth--;
        this.deliver(this.leafHashes, this.leavesTaken * hashLength);
        this.leavesTaken++;
      } else {
        stages[top] = pendingLeft;
        this.push(start, this.splits[top]!);
      }
    }
  }

  /**
   * Hands the root of the range just popped (32 bytes of `from` at `offset`) to the range below
   * it: a left half waits there for its right half; a right half completes that range's node,
   * which is hashed and handed down in turn. With no range below, it is the root.
   */
  private deliver(from: Uint8Array, offset: number): void {
    const { inputs } = this;
    if (this.depth === 0) {
      this.root = from.slice(offset, offset + hashLength);
      return;
    }
    let parent = this.depth - 1;
    let at = parent * nodeInputLength + (this.stages[parent] === pendingLeft ? 1 : 1 + hashLength);
    for (let index = 0; index < hashLength; index++) inputs[at + index] = from[offset + index]!;
    while (this.stages[parent] === pendingRight) {
      // RFC 6962 interior node: SHA-256(0x01 ‖ left ‖ right).
      const digest = hash('sha256', this.inputViews[parent]!, 'binary');
      this.depth--;
      if (this.depth === 0) {
        this.root = Uint8Array.from(digest, (character) => character.charCodeAt(0));
        return;
      }
      parent = this.depth - 1;
      at = parent * nodeInputLength + (this.stages[parent] === pendingLeft ? 1 : 1 + hashLength);
      for (let index = 0; index < hashLength; index++) inputs[at + index] = digest.charCodeAt(index);
    }
    // A left half: the right half is walked next.
    this.stages[parent] = pendingRight;
    const split = this.splits[parent]!;
    this.push(this.starts[parent]! + split, this.sizes[parent]! - split);
  }

  private push(start: number, size: number): void {
    this.starts[this.depth] = start;
    this.sizes[this.depth] = size;
    this.splits[this.depth] = size >= 2 ? split(size) : 0;
    this.stages[this.depth] = 0;
    this.depth++;
  }
}

/** `splitPoint`, without its loop for the sizes of 32 bits (every level of the walk asks it once). */
function split(size: number): number {
  return size <= 0x1_0000_0000 ? 2 ** (31 - Math.clz32(size - 1)) : splitPoint(size);
}
