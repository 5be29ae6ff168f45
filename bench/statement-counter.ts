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
 * Wraps an open engine database so that every statement it executes is counted: the engine takes
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
  const wrapped: EngineDatabase = new Proxy(database, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      const method = value as (...parameters: unknown[]) => unknown;
      switch (property) {
        case 'prepare':
          return (...parameters: unknown[]) => wrapStatement(method.apply(target, parameters) as object);
        case 'exec':
        case 'pragma':
          return (...parameters: unknown[]) => {
            counts.statements++;
            const result = method.apply(target, parameters);
            return result === target ? wrapped : result;
          };
        case 'transaction':
          return (...parameters: unknown[]) => {
            const transaction = method.apply(target, parameters) as ((...parameters: unknown[]) => unknown) & Record<string, unknown>;
            const counting =
              (run: (...body: unknown[]) => unknown) =>
              (...body: unknown[]) => {
                counts.transactions++;
                return run(...body);
              };
            // better-sqlite3 hangs .deferred/.immediate/.exclusive variants on the function: count those too.
            const counted = counting(transaction) as ((...body: unknown[]) => unknown) & Record<string, unknown>;
            for (const variant of ['deferred', 'immediate', 'exclusive'])
              if (typeof transaction[variant] === 'function') counted[variant] = counting(transaction[variant] as (...body: unknown[]) => unknown);
            return counted;
          };
        default:
          return (...parameters: unknown[]) => {
            const result = method.apply(target, parameters);
            return result === target ? wrapped : result;
          };
      }
    },
  });
  return { database: wrapped, counts };
}
