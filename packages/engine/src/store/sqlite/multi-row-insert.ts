import type { EngineDatabase, EngineStatement } from '../shared/engine-database.ts';

/**
 * An INSERT that writes many rows a statement: one statement per row was most of the engine's
 * statements per item. Rows are given as one flat list of values, `width` a row; they go
 * in statements of at most `maxRows` rows, each statement prepared once for its row count.
 */
export class MultiRowInsert<Value> {
  readonly #database: EngineDatabase;
  readonly #head: string;
  readonly #width: number;
  readonly #maxRows: number;
  readonly #row: string;
  /** `#statements[n]`: the statement writing n rows, prepared at first use. */
  readonly #statements: EngineStatement<Value[]>[] = [];

  /** `head` is the statement up to its VALUES (`INSERT INTO t (a, b, c)`). */
  constructor(database: EngineDatabase, head: string, width: number, maxRows: number) {
    this.#database = database;
    this.#head = head;
    this.#width = width;
    this.#maxRows = maxRows;
    this.#row = `(${Array.from({ length: width }, () => '?').join(', ')})`;
  }

  /** Writes `values` (a whole number of rows). */
  run(values: readonly Value[]): void {
    const chunk = this.#maxRows * this.#width;
    for (let start = 0; start < values.length; start += chunk) {
      const part = start === 0 && values.length <= chunk ? values : values.slice(start, start + chunk);
      this.#statement(part.length / this.#width).run(...part);
    }
  }

  #statement(rows: number): EngineStatement<Value[]> {
    return (this.#statements[rows] ??= this.#database.prepare<Value[]>(`${this.#head} VALUES ${Array.from({ length: rows }, () => this.#row).join(', ')}`));
  }
}
