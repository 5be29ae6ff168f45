import type { EngineDatabase } from '../shared/engine-database.ts';

/** Rows kept in memory until the transaction that made them commits, then written together. */
export interface DeferredWriter {
  /** Writes what it holds (many rows a statement), in the transaction still open. */
  flush(): void;
  /** Forgets what it holds: the transaction (or savepoint) that made it is rolling back. */
  discard(): void;
}

interface TransactionScope {
  /** Transactions (and savepoints) of the watched `transaction` now running their bodies. */
  depth: number;
  /** Writers holding rows, in the order they first deferred some. */
  readonly dirty: Set<DeferredWriter>;
}

const scopes = new WeakMap<EngineDatabase, TransactionScope>();

/**
 * Defers `writer`'s rows to the end of the transaction body running now, when there is one made by
 * the database's watched `transaction` (`watchRollbacks`): that wrapper flushes them before the
 * commit, and discards them when the body throws, so they commit or roll back with the state they
 * go with, as if written at once. False when there is none (an unwatched database, or no
 * transaction): the caller writes at once.
 */
export function deferUntilCommit(database: EngineDatabase, writer: DeferredWriter): boolean {
  const scope = runningScope(database);
  if (scope === undefined) return false;
  scope.dirty.add(writer);
  return true;
}

/**
 * Whether `database` is in a transaction. While a body of its watched `transaction` runs, the
 * answer is known without asking the database (a native call: the engine asks at every audit
 * entry and Merkle append); otherwise the database is asked.
 */
export function isInTransaction(database: EngineDatabase): boolean {
  return runningScope(database) !== undefined || database.inTransaction;
}

// The scope of a watched transaction body running now, if any. A body runs synchronously inside
// its transaction, so while one runs the database is in a transaction.
function runningScope(database: EngineDatabase): TransactionScope | undefined {
  const scope = scopes.get(database);
  return scope !== undefined && scope.depth > 0 ? scope : undefined;
}

/**
 * Writes every deferred row of `database` now. Whoever reads a table with deferred rows inside a
 * transaction calls it first, so a read sees every row written before it.
 */
export function flushDeferredWrites(database: EngineDatabase): void {
  const scope = scopes.get(database);
  if (scope === undefined || scope.dirty.size === 0) return;
  for (const writer of scope.dirty) writer.flush();
  scope.dirty.clear();
}

/**
 * Wraps a transaction body of a watched database: its rows are written at its end, or dropped when
 * it throws. The caller flushes before the transaction (or savepoint) begins, so that what it
 * holds then belongs to the transaction it nests in, and a rollback of this one drops only its own.
 */
export function deferringBody(database: EngineDatabase, body: (...parameters: unknown[]) => unknown): (...parameters: unknown[]) => unknown {
  let scope = scopes.get(database);
  if (scope === undefined) scopes.set(database, (scope = { depth: 0, dirty: new Set() }));
  const watched = scope;
  return function (this: unknown, ...parameters: unknown[]): unknown {
    watched.depth++;
    try {
      const result = body.apply(this, parameters);
      flushDeferredWrites(database);
      return result;
    } catch (error) {
      for (const writer of watched.dirty) writer.discard();
      watched.dirty.clear();
      throw error;
    } finally {
      watched.depth--;
    }
  };
}
