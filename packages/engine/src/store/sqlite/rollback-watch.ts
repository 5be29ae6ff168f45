import { deferringBody, flushDeferredWrites, isInTransaction } from './deferred-writes.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';

/** How many transactions (or savepoints) of a watched database have ended by an exception. */
interface RollbackCounter {
  rollbacks: number;
}

const counters = new WeakMap<EngineDatabase, RollbackCounter>();

/**
 * Makes the transactions of `database` count their rollbacks, so that what the engine keeps in
 * memory about the database (the Merkle tree's size and right edge) can tell, with no query, that
 * it may no longer match. A transaction (or a savepoint, when nested) rolls back exactly when its
 * body or its commit throws, as better-sqlite3's own do: every function `transaction` returns
 * from now on counts that before rethrowing; and their bodies write the rows deferred to their end
 * (`deferUntilCommit`) before the commit. Only functions made after this call are counted, so the
 * engine calls it right after opening the database, before anything wraps a transaction.
 * Idempotent.
 *
 * The functions are made here rather than by better-sqlite3's `transaction`, which builds four
 * variants of each (default, deferred, immediate, exclusive) with their properties: the engine
 * makes one for almost every transaction it runs, and building them cost more than a short body
 * (15 µs a hop of a chain). Only the default (deferred) kind is made: the engine's
 * handle type (`EngineDatabase`) offers no other.
 */
export function watchRollbacks(database: EngineDatabase): EngineDatabase {
  if (counters.has(database)) return database;
  const counter: RollbackCounter = { rollbacks: 0 };
  const control = transactionControl(database);
  const transaction = (body: (...parameters: unknown[]) => unknown) => {
    // The body writes the rows it deferred (`deferUntilCommit`) at its end, before the commit.
    const deferring = deferringBody(database, body);
    return function (this: unknown, ...parameters: unknown[]): unknown {
      // Rows an enclosing transaction deferred are its own: written before a savepoint begins.
      flushDeferredWrites(database);
      const nested = isInTransaction(database);
      (nested ? control.savepoint : control.begin).run();
      try {
        const result = deferring.apply(this, parameters);
        if (isPromise(result)) throw new TypeError('A transaction body cannot return a promise: it would commit before the promise settles.');
        (nested ? control.release : control.commit).run();
        return result;
      } catch (error) {
        counter.rollbacks++;
        // A failed COMMIT may have ended the transaction already (SQLite rolls back on some errors).
        if (database.inTransaction) {
          if (nested) {
            control.rollbackTo.run();
            control.release.run();
          } else control.rollback.run();
        }
        throw error;
      }
    };
  };
  Object.defineProperty(database, 'transaction', { value: transaction, configurable: true, writable: true });
  counters.set(database, counter);
  return database;
}

// The statements that begin and end a transaction, or a savepoint inside one, prepared once.
function transactionControl(database: EngineDatabase) {
  const statement = (source: string) => database.prepare<[]>(source);
  return {
    begin: statement('BEGIN'),
    commit: statement('COMMIT'),
    rollback: statement('ROLLBACK'),
    savepoint: statement('SAVEPOINT engine_nested'),
    release: statement('RELEASE engine_nested'),
    rollbackTo: statement('ROLLBACK TO engine_nested'),
  };
}

function isPromise(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * The number of rollbacks `database` has seen so far, or undefined when it is not watched (then
 * anything kept in memory about it must be read again at every use).
 */
export function rollbacksOf(database: EngineDatabase): number | undefined {
  return counters.get(database)?.rollbacks;
}
