import { deferringBody, flushDeferredWrites } from './deferred-writes.ts';
import type { EngineDatabase } from './engine-database.ts';

/** How many transactions (or savepoints) of a watched database have ended by an exception. */
interface RollbackCounter {
  rollbacks: number;
}

const counters = new WeakMap<EngineDatabase, RollbackCounter>();
const transactionModes = ['deferred', 'immediate', 'exclusive'] as const;

/**
 * Makes the transactions of `database` count their rollbacks, so that what the engine keeps in
 * memory about the database (the Merkle tree's size and right edge) can tell, with no query, that
 * it may no longer match. better-sqlite3 rolls a transaction (or a savepoint, when nested) back
 * exactly when its body or its commit throws: every function `transaction` returns from now on
 * counts that before rethrowing; and their bodies write the rows deferred to their end
 * (`deferUntilCommit`) before the commit. Only functions made after this call are counted, so the engine
 * calls it right after opening the database, before anything wraps a transaction. Idempotent.
 */
export function watchRollbacks(database: EngineDatabase): EngineDatabase {
  if (counters.has(database)) return database;
  const counter: RollbackCounter = { rollbacks: 0 };
  const original = database.transaction.bind(database) as (body: (...parameters: unknown[]) => unknown) => TransactionFunction;
  const counting = (run: (...parameters: unknown[]) => unknown) =>
    function (this: unknown, ...parameters: unknown[]): unknown {
      // Rows an enclosing transaction deferred are its own: written before a savepoint begins.
      flushDeferredWrites(database);
      try {
        return run.apply(this, parameters);
      } catch (error) {
        counter.rollbacks++;
        throw error;
      }
    };
  const transaction = (body: (...parameters: unknown[]) => unknown) => {
    // The body writes the rows it deferred (`deferUntilCommit`) at its end, before the commit.
    const wrapped = original(deferringBody(database, body));
    const counted = counting(wrapped) as TransactionFunction;
    for (const mode of transactionModes) Object.defineProperty(counted, mode, { value: counting(wrapped[mode]) });
    Object.defineProperty(counted, 'default', { value: counted });
    Object.defineProperty(counted, 'database', { value: database });
    return counted;
  };
  Object.defineProperty(database, 'transaction', { value: transaction, configurable: true, writable: true });
  counters.set(database, counter);
  return database;
}

/**
 * The number of rollbacks `database` has seen so far, or undefined when it is not watched (then
 * anything kept in memory about it must be read again at every use).
 */
export function rollbacksOf(database: EngineDatabase): number | undefined {
  return counters.get(database)?.rollbacks;
}

type TransactionFunction = ((...parameters: unknown[]) => unknown) & Record<(typeof transactionModes)[number], (...parameters: unknown[]) => unknown>;
