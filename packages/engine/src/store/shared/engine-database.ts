/**
 * The engine's database handle: an open better-sqlite3 `Database`, typed here by the members the
 * engine uses (in better-sqlite3's own shapes, so a `Database` is one), so that the published
 * declarations name no better-sqlite3 type and compiling against `@cairn/engine` needs no
 * `@types/better-sqlite3`. Synchronous: each call runs to completion on this thread.
 */
export interface EngineDatabase {
  readonly name: string;
  /** True for an in-memory database (which has no file to sync). */
  readonly memory: boolean;
  readonly open: boolean;
  readonly inTransaction: boolean;
  // `{}` (not `object`) as better-sqlite3 spells it, so that its `Database` matches this method.
  prepare<BindParameters extends unknown[] | {} = unknown[], Result = unknown>(
    source: string,
  ): BindParameters extends unknown[] ? EngineStatement<BindParameters, Result> : EngineStatement<[BindParameters], Result>;
  /** Wraps `body` so that calling the result runs it in a transaction (a savepoint inside one). */
  transaction<Body extends TransactionBody>(body: Body): EngineTransaction<Body>;
  exec(source: string): this;
  pragma(source: string, options?: { readonly simple?: boolean }): unknown;
  close(): this;
}

/** A prepared statement of an `EngineDatabase`. */
export interface EngineStatement<BindParameters extends unknown[], Result = unknown> {
  run(...parameters: BindParameters): { changes: number; lastInsertRowid: number | bigint };
  get(...parameters: BindParameters): Result | undefined;
  all(...parameters: BindParameters): Result[];
  iterate(...parameters: BindParameters): IterableIterator<Result>;
  pluck(toggleState?: boolean): this;
  raw(toggleState?: boolean): this;
}

// Spelled as better-sqlite3 spells them (`any[]`, an inferred argument list rather than
// `Parameters`), or its `Database` would not match `transaction` here.
type TransactionBody = (...parameters: any[]) => unknown;
type ArgumentsOf<Body extends TransactionBody> = Body extends (...parameters: infer List) => unknown ? List : never;

/** A function that runs its body in a transaction. */
export interface EngineTransaction<Body extends TransactionBody> {
  (...parameters: ArgumentsOf<Body>): ReturnType<Body>;
}
