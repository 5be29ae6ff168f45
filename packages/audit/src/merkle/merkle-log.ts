import { CairnError } from '@cairn/protocol';
import { InMemoryMerkleNodeStore } from './in-memory-merkle-node-store.ts';
import { emptyTreeHash, leafHash as hashLeaf, nodeHash } from './merkle-hash.ts';
import { half, isOdd, splitPoint } from './merkle-math.ts';
import { walkMultiproof } from './subtree-root.ts';
import type { MerkleNode, MerkleNodeStore } from './merkle-node-store.ts';

/**
 * An append-only RFC 6962 Merkle log over a node store. Appends cost O(log n) hashes and writes
 * at worst (O(1) on average); roots, inclusion proofs and consistency proofs for any past tree
 * size read O(log n) stored nodes plus O(log n) hashes for the ragged right edge — never O(n).
 *
 * The log keeps no state of its own: its size is the store's leaf count, read on every use, so a
 * store that rolls back a transaction (the engine's SQLite store) rolls the log back with it, and
 * a log reopened over the same store (`MerkleLog.open`) after a restart continues where it stopped.
 */
export class MerkleLog {
  readonly #store: MerkleNodeStore;

  private constructor(store: MerkleNodeStore) {
    this.#store = store;
  }

  /** A log over `store`, resuming at the size the store holds. */
  static open(store: MerkleNodeStore = new InMemoryMerkleNodeStore()): MerkleLog {
    return new MerkleLog(store);
  }

  /** Number of leaves. */
  get size(): number {
    return this.#store.leafCount();
  }

  /** Appends an entry (its bytes, hashed as a leaf); returns its leaf index. */
  append(entryBytes: Uint8Array): number {
    return this.appendLeafHash(hashLeaf(entryBytes));
  }

  /** Appends an already computed leaf hash; returns its leaf index. */
  appendLeafHash(leaf: Uint8Array): number {
    const index = this.#store.leafCount();
    const nodes: MerkleNode[] = [{ level: 0, index, hash: leaf }];
    // Each time the new node is a right child, its parent subtree is now complete.
    let level = 0;
    let position = index;
    let hash = leaf;
    while (isOdd(position)) {
      hash = nodeHash(this.#node(level, position - 1), hash);
      level++;
      position = half(position);
      nodes.push({ level, index: position, hash });
    }
    this.#store.append(nodes);
    return index;
  }

  /** The root hash of the first `treeSize` leaves (default: all). */
  rootHash(treeSize = this.size): Uint8Array {
    this.#assertSize(treeSize, 'treeSize');
    return treeSize === 0 ? emptyTreeHash() : this.#subtreeHash(0, treeSize);
  }

  /** The leaf hash at `leafIndex`. */
  leafHash(leafIndex: number): Uint8Array {
    this.#assertIndex(leafIndex, this.size);
    return Uint8Array.from(this.#node(0, leafIndex));
  }

  /** RFC 6962 PATH(leafIndex, D[0:treeSize]): the inclusion proof of a leaf in a past or current tree. */
  inclusionProof(leafIndex: number, treeSize = this.size): Uint8Array[] {
    this.#assertSize(treeSize, 'treeSize');
    this.#assertIndex(leafIndex, treeSize);
    const proof: Uint8Array[] = [];
    this.#path(leafIndex, 0, treeSize, proof);
    return proof;
  }

  /** RFC 6962 PROOF(size1, D[0:size2]): the consistency proof between two tree sizes (0 < size1 <= size2). */
  consistencyProof(size1: number, size2 = this.size): Uint8Array[] {
    this.#assertSize(size2, 'size2');
    if (!Number.isSafeInteger(size1) || size1 < 1 || size1 > size2) {
      throw new CairnError('CAIRN_AUDIT_PROOF_INVALID', `size1 must be a whole number from 1 to size2 (${size2}), got ${size1}.`, { path: 'size1' });
    }
    const proof: Uint8Array[] = [];
    this.#subproof(size1, 0, size2, true, proof);
    return proof;
  }

  /**
   * One inclusion proof for many leaves (`leafIndexes` sorted and distinct) in the tree of
   * `treeSize` leaves: the hashes of the maximal subtrees holding none of them, left to right.
   * Verify with `verifyMultiInclusion`.
   */
  multiInclusionProof(leafIndexes: readonly number[], treeSize = this.size): Uint8Array[] {
    this.#assertSize(treeSize, 'treeSize');
    leafIndexes.forEach((leafIndex, position) => {
      this.#assertIndex(leafIndex, treeSize);
      if (position > 0 && leafIndexes[position - 1]! >= leafIndex) {
        throw new CairnError('CAIRN_AUDIT_PROOF_INVALID', `leafIndexes must be sorted and distinct; ${leafIndex} follows ${leafIndexes[position - 1]}.`, {
          path: `leafIndexes[${position}]`,
        });
      }
    });
    const proof: Uint8Array[] = [];
    if (treeSize > 0) walkMultiproof(0, treeSize, leafIndexes, 0, (start, size) => proof.push(this.#subtreeHash(start, size)));
    return proof;
  }

  // PATH(m, D[start:start+n]), appending the deepest sibling first as RFC 6962 orders it.
  #path(m: number, start: number, n: number, proof: Uint8Array[]): void {
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      this.#path(m, start, k, proof);
      proof.push(this.#subtreeHash(start + k, n - k));
    } else {
      this.#path(m - k, start + k, n - k, proof);
      proof.push(this.#subtreeHash(start, k));
    }
  }

  // SUBPROOF(m, D[start:start+n], b) of RFC 6962 section 2.1.2.
  #subproof(m: number, start: number, n: number, complete: boolean, proof: Uint8Array[]): void {
    if (m === n) {
      if (!complete) proof.push(this.#subtreeHash(start, n));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.#subproof(m, start, k, complete, proof);
      proof.push(this.#subtreeHash(start + k, n - k));
    } else {
      this.#subproof(m - k, start + k, n - k, false, proof);
      proof.push(this.#subtreeHash(start, k));
    }
  }

  // MTH(D[start:start+n]) for a range that is either a stored perfect subtree or the ragged right
  // edge of a tree: the left part of each split is perfect (one read), so this is O(log n).
  #subtreeHash(start: number, n: number): Uint8Array {
    const level = Math.log2(n);
    if (Number.isInteger(level) && start % n === 0) return this.#node(level, start / n);
    const k = splitPoint(n);
    return nodeHash(this.#subtreeHash(start, k), this.#subtreeHash(start + k, n - k));
  }

  #node(level: number, index: number): Uint8Array {
    const node = this.#store.get(level, index);
    if (!node) {
      throw new CairnError(
        'CAIRN_AUDIT_LOG_CORRUPT',
        `The Merkle node store has no node at level ${level}, index ${index}, though the log holds ${this.size} leaves.`,
        {
          details: { level, index, size: this.size },
        },
      );
    }
    return node;
  }

  #assertSize(treeSize: number, name: string): void {
    if (!Number.isSafeInteger(treeSize) || treeSize < 0 || treeSize > this.size) {
      throw new CairnError('CAIRN_AUDIT_PROOF_INVALID', `${name} must be a whole number from 0 to the log size ${this.size}, got ${treeSize}.`, { path: name });
    }
  }

  #assertIndex(leafIndex: number, treeSize: number): void {
    if (!Number.isSafeInteger(leafIndex) || leafIndex < 0 || leafIndex >= treeSize) {
      throw new CairnError('CAIRN_AUDIT_PROOF_INVALID', `leafIndex must be a whole number below the tree size ${treeSize}, got ${leafIndex}.`, {
        path: 'leafIndex',
      });
    }
  }
}
