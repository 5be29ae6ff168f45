import type { EngineDatabase } from '@cairn/engine';

/** What a counted database handle has executed so far. */
export interface StatementCounts {
  /** Executions of SQL: a prepared statement's run/get/all/iterate, an exec, a pragma. */
  statements: number;
  /** Calls of a function made by `transaction` (each a BEGIN…COMMIT, or a savepoint inside one). */
  transactions: number;
}

const executions = new Set(['run', 'get', 'all', 'iterate']);

/**
 * Makes an open engine database count every statement it executes: the engine takes
 * an open handle (`database` option), so the count needs no change to the product. Statements
 * returned by `prepare` are wrapped too (their `pluck`/`raw`/`expand` return the wrapper, as they
 * return the statement itself); `exec` counts once, whatever its text holds.
 */
export function countStatements(database: EngineDatabase): { database: EngineDatabase; counts: StatementCounts } {
  const counts: StatementCounts = { statements: 0, transactions: 0 };
  const wrapStatement = (statement: object): object => {
    const wrapper: object = new Proxy(statement, {
      get(target, property) {
        const value = Reflect.get(target, property, target) as unknown;
        if (typeof value !== 'function') return value;
        if (typeof property === 'string' && executions.has(property))
          return (...parameters: unknown[]) => {
            counts.statements++;
            return (value as (...parameters: unknown[]) => unknown).apply(target, parameters);
          };
        return (...parameters: unknown[]) => {
          const result = (value as (...parameters: unknown[]) => unknown).apply(target, parameters);
          return result === target ? wrapper : result;
        };
      },
    });
    return wrapper;
  };
  // The handle itself is patched, not wrapped in a Proxy: the engine keeps state per handle (the
  // Merkle edge it trusts while no rollback happened, keyed by the handle `openEngineDatabase`
  // returned), and a Proxy is another object — counted through one, the engine would re-read what it
  // keeps in memory, and the count would be of an engine that does not run anywhere else.
  const handle = database as unknown as Record<string, (...parameters: unknown[]) => unknown>;
  const own = (name: string) => (handle[name] as (...parameters: unknown[]) => unknown).bind(database);
  const prepare = own('prepare');
  const exec = own('exec');
  const pragma = own('pragma');
  const transaction = own('transaction');
  handle['prepare'] = (...parameters: unknown[]) => wrapStatement(prepare(...parameters) as object);
  handle['exec'] = (...parameters: unknown[]) => (counts.statements++, exec(...parameters));
  handle['pragma'] = (...parameters: unknown[]) => (counts.statements++, pragma(...parameters));
  // The engine's handle makes one kind of transaction function (no better-sqlite3 variants such as
  // `.immediate`: see the engine's rollback watch), so each call of one is counted here.
  handle['transaction'] = (...parameters: unknown[]) => {
    const made = transaction(...parameters) as (...body: unknown[]) => unknown;
    return (...body: unknown[]) => {
      counts.transactions++;
      return made(...body);
    };
  };
  const wrapped = database;
  return { database: wrapped, counts };
}
