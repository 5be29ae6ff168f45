import { hashLength } from './merkle-hash.ts';
import type { MerkleNode, MerkleNodeStore } from './merkle-node-store.ts';

/**
 * MerkleNodeStore in memory: one growable byte array per level, node i at offset 32·i, so a
 * million leaves cost about 64 MB and no per-node objects.
 */
export class InMemoryMerkleNodeStore implements MerkleNodeStore {
  readonly #levels: { bytes: Uint8Array; count: number }[] = [];

  leafCount(): number {
    return this.#levels[0]?.count ?? 0;
  }

  get(level: number, index: number): Uint8Array | undefined {
    const stored = this.#levels[level];
    if (!stored || index >= stored.count || index < 0) return undefined;
    return stored.bytes.subarray(index * hashLength, (index + 1) * hashLength);
  }

  append(nodes: readonly MerkleNode[]): void {
    for (const node of nodes) {
      const stored = (this.#levels[node.level] ??= { bytes: new Uint8Array(hashLength * 1024), count: 0 });
      if (node.index !== stored.count) throw new Error(`node (${node.level}, ${node.index}) is out of order; expected index ${stored.count}`);
      if ((stored.count + 1) * hashLength > stored.bytes.byteLength) {
        const grown = new Uint8Array(stored.bytes.byteLength * 2);
        grown.set(stored.bytes);
        stored.bytes = grown;
      }
      stored.bytes.set(node.hash, stored.count * hashLength);
      stored.count++;
    }
  }
}
