import { leafHashOfText, perfectTreeHash, type MerkleNode, type MerkleNodeStore } from '@cairn/audit';
import { DeferredRowInsert } from './deferred-row-insert.ts';
import { flushDeferredWrites, isInTransaction } from './deferred-writes.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { rollbacksOf } from './rollback-watch.ts';

/**
 * What the store knows of the tree without asking the database: its size and its right edge (at
 * each level, the hash of the last complete node — the only node an append needs to read). Shared
 * by every store over one database handle, so two logs over one handle stay in step.
 */
interface TreeEdge {
  size: number;
  /** `hashes[level]`: the node at (level, ⌊size / 2^level⌋ − 1), when known. */
  readonly hashes: (Uint8Array | undefined)[];
  /** The database's rollback count when this edge was read or last written; undefined for an unwatched database. */
  readonly rollbacks: number | undefined;
}

const edges = new WeakMap<EngineDatabase, TreeEdge>();
/** Nodes one append hands over at most: a leaf and the subtrees it completes (a tree of 2^52 leaves). */
const maxNodesPerAppend = 54;
/** Nodes one statement writes at most (3 values each, far below SQLite's limit on values). */
const maxNodesPerInsert = 64;
/** Nodes a transaction keeps in memory at most before writing them (in the transaction still). */
const maxPendingNodes = 8_192;
/**
 * The lowest level stored: the leaves (level 0) are the audit entries themselves, each leaf the
 * hash of its entry's body (`audit_entries.body`, the very text the audit log hashed when it
 * appended it), and nodes of levels 1 to 3 are not written either but hashed again from their
 * leaves (at most 8 bodies, one range read) when one is asked for (ADR 0027).
 */
export const lowestStoredNodeLevel = 4;
/**
 * Above it, one level in four is stored (4, 8, 12, ...): a node between two stored levels is
 * hashed again from at most 8 nodes of the stored level below it (one range read). Each stored
 * level is a range of its own in the table's key, so every level written by a commit is a page
 * the commit writes: with every level stored, a fan-out's commits wrote ~6.5 pages of nodes each,
 * with one in four ~2.6 (ADR 0027). A log of n entries stores about n / 15 node rows.
 */
export const storedNodeLevelStep = 4;

/** Whether nodes of `level` are rows of `merkle_nodes`. */
export function isStoredNodeLevel(level: number): boolean {
  return level >= lowestStoredNodeLevel && level % storedNodeLevelStep === 0;
}

/**
 * The Merkle tree of the audit log in the engine database: its leaves are the hashes of the
 * `audit_entries` bodies (the leaf handed to `append` is not written again: the entry it hashes
 * is), its nodes of levels 4, 8, 12, ... are stored in `merkle_nodes`, written by the same
 * transaction as the entries they hash; a rolled back transaction rolls the tree back too. The
 * size, when not known in memory, is read from the entries' rows, so the audit log appends an
 * entry's leaf before it writes the entry's row (in one transaction): a row never stands before
 * its leaf is counted.
 *
 * The size and the right edge are kept in memory, so an append reads nothing and writes its
 * nodes in one statement. They are trusted only while the database (watched by `watchRollbacks`,
 * as `openEngineDatabase` does) has rolled nothing back since they were written: after a
 * rollback, the size is read again once, and the edge from the nodes as they are needed. Over an
 * unwatched database they are read again at every use. Inside a transaction the nodes wait in
 * memory for the end of its body and are written then, many a statement (`DeferredRowInsert`);
 * a read writes them (and the audit log's entries) first. A read of a leaf, or of a node of
 * levels 1 to 3, hashes entry bodies again (`lowestStoredNodeLevel`); a read of a node of another
 * level not stored hashes the nodes of the stored level below it (`storedNodeLevelStep`).
 */
export class SqliteMerkleNodeStore implements MerkleNodeStore {
  readonly #get;
  readonly #range;
  readonly #bodies;
  readonly #count;
  /** The nodes of stored levels, as (level, index, hash) rows. */
  readonly #rows: DeferredRowInsert<number | Uint8Array>;
  readonly #appendNodes: (nodes: readonly MerkleNode[]) => void;
  readonly #database: EngineDatabase;

  constructor(database: EngineDatabase) {
    this.#get = database.prepare<[number, number], { hash: Buffer }>('SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?');
    this.#range = database.prepare<[number, number, number], { hash: Buffer }>(
      'SELECT hash FROM merkle_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx',
    );
    this.#bodies = database.prepare<[number, number], { body: string }>('SELECT body FROM audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq');
    this.#database = database;
    this.#rows = new DeferredRowInsert(database, 'INSERT INTO merkle_nodes (level, idx, hash)', 3, maxNodesPerInsert, maxPendingNodes);
    // All nodes of one append or none: its own transaction when the caller has none (inside the
    // caller's transaction, a failure aborts that transaction anyway).
    this.#appendNodes = database.transaction((nodes: readonly MerkleNode[]) => this.#insertNodes(nodes));
    this.#count = database.prepare<[], { next: number }>('SELECT COALESCE(MAX(seq) + 1, 0) AS next FROM audit_entries');
  }

  leafCount(): number {
    return this.#edge().size;
  }

  get(level: number, index: number): Uint8Array | undefined {
    const edge = this.#edge();
    const onEdge = index === Math.floor(edge.size / 2 ** level) - 1;
    // Copies in and out: a caller that changes a hash it was given (or gave) cannot change the tree.
    if (onEdge && edge.hashes[level] !== undefined) return edge.hashes[level].slice();
    flushDeferredWrites(this.#database);
    const hash = isStoredNodeLevel(level) ? this.#stored(level, index) : this.#rehashed(level, index);
    if (onEdge && hash !== undefined) edge.hashes[level] = hash.slice();
    return hash;
  }

  #stored(level: number, index: number): Uint8Array | undefined {
    const row = this.#get.get(level, index);
    return row ? bytesOf(row.hash) : undefined;
  }

  // A leaf or a node of a level not stored, hashed again from what is stored below it: the
  // bodies of its entries under level 4, the nodes of the stored level below it above (at most 8
  // either way, one range read); undefined while they are not all there.
  #rehashed(level: number, index: number): Uint8Array | undefined {
    const below = level < lowestStoredNodeLevel ? 0 : level - (level % storedNodeLevelStep);
    const width = 2 ** (level - below);
    const first = index * width;
    const hashes =
      below === 0
        ? this.#bodies.all(first, first + width).map((row) => leafHashOfText(row.body))
        : this.#range.all(below, first, first + width).map((row) => bytesOf(row.hash));
    return hashes.length === width ? perfectTreeHash(hashes) : undefined;
  }

  append(nodes: readonly MerkleNode[]): void {
    if (isInTransaction(this.#database)) this.#insertNodes(nodes);
    else this.#appendNodes(nodes);
  }

  #insertNodes(nodes: readonly MerkleNode[]): void {
    const edge = this.#edge();
    if (nodes.length === 0 || nodes.length > maxNodesPerAppend || nodes[0]!.level !== 0 || nodes[0]!.index !== edge.size) {
      throw new Error(`an append must start with leaf ${edge.size} and write at most ${maxNodesPerAppend} nodes`);
    }
    // Copies: a caller that changes a hash it gave cannot change the tree (the edge and the
    // pending rows share the copy; neither is handed out).
    // Only the nodes of stored levels are written (most appends write none); every node is on
    // the edge now.
    const values: (number | Uint8Array)[] = [];
    const hashes: Uint8Array[] = [];
    for (const node of nodes) {
      const hash = node.hash.slice();
      hashes.push(hash);
      if (isStoredNodeLevel(node.level)) values.push(node.level, node.index, hash);
    }
    if (values.length > 0) this.#rows.add(values);
    // Written, or to be written before the commit (a failure throws, and its rollback makes the
    // edge be read again).
    edge.size++;
    for (let position = 0; position < nodes.length; position++) edge.hashes[nodes[position]!.level] = hashes[position]!;
  }

  // The edge as the database has it now: the one in memory while no rollback happened since.
  #edge(): TreeEdge {
    const rollbacks = rollbacksOf(this.#database);
    const known = edges.get(this.#database);
    if (known !== undefined && rollbacks !== undefined && known.rollbacks === rollbacks) return known;
    flushDeferredWrites(this.#database);
    const edge: TreeEdge = { size: this.#count.get()!.next, hashes: [], rollbacks };
    edges.set(this.#database, edge);
    return edge;
  }
}

/** A stored hash as a Uint8Array over the same bytes. */
function bytesOf(hash: Buffer): Uint8Array {
  return new Uint8Array(hash.buffer, hash.byteOffset, hash.byteLength);
}
