import { emptyTreeHash, nodeHash } from './merkle-hash.ts';
import { isOdd, half } from './merkle-math.ts';

/**
 * The root of a tree computed leaf by leaf in O(log n) memory: the compact range keeps one hash
 * per perfect subtree on the right edge (one per set bit of the size). For checking a whole log
 * against a checkpoint without storing it.
 */
export class CompactRange {
  readonly #subtrees: Uint8Array[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  append(leaf: Uint8Array): void {
    let hash = leaf;
    for (let position = this.#size; isOdd(position); position = half(position)) hash = nodeHash(this.#subtrees.pop()!, hash);
    this.#subtrees.push(hash);
    this.#size++;
  }

  /** The RFC 6962 root of the leaves appended so far. */
  rootHash(): Uint8Array {
    if (this.#subtrees.length === 0) return emptyTreeHash();
    let root = this.#subtrees.at(-1)!;
    for (let index = this.#subtrees.length - 2; index >= 0; index--) root = nodeHash(this.#subtrees[index]!, root);
    return root;
  }
}
