import type { MerkleNode, MerkleNodeStore } from '@cairn/audit';
import type { EngineDatabase } from '../database/engine-database.ts';

/**
 * The Merkle log's nodes in the engine database (`merkle_nodes`), written by the same
 * transaction as the audit entry they hash, so the tree and the entries cannot disagree; a rolled
 * back transaction rolls the tree back too.
 */
export class SqliteMerkleNodeStore implements MerkleNodeStore {
  readonly #get;
  readonly #count;
  readonly #appendNodes: (nodes: readonly MerkleNode[]) => void;
  readonly #insertNodes: (nodes: readonly MerkleNode[]) => void;
  readonly #database: EngineDatabase;

  constructor(database: EngineDatabase) {
    this.#get = database.prepare<[number, number], { hash: Buffer }>('SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?');
    const insert = database.prepare<[number, number, Uint8Array]>('INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)');
    this.#database = database;
    this.#insertNodes = (nodes) => {
      for (const node of nodes) insert.run(node.level, node.index, node.hash);
    };
    // All nodes of one append or none: its own transaction when the caller has none (inside the
    // caller's transaction, a failure aborts that transaction anyway).
    this.#appendNodes = database.transaction(this.#insertNodes);
    this.#count = database.prepare<[], { next: number }>('SELECT COALESCE(MAX(idx) + 1, 0) AS next FROM merkle_nodes WHERE level = 0');
  }

  leafCount(): number {
    return this.#count.get()!.next;
  }

  get(level: number, index: number): Uint8Array | undefined {
    const row = this.#get.get(level, index);
    return row ? new Uint8Array(row.hash.buffer, row.hash.byteOffset, row.hash.byteLength) : undefined;
  }

  append(nodes: readonly MerkleNode[]): void {
    if (this.#database.inTransaction) this.#insertNodes(nodes);
    else this.#appendNodes(nodes);
  }
}
