import type pg from 'pg';
import { CairnError } from '@cairn/protocol';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { engineTables, type CapturedTable, type ChangeCapture } from '../change-capture.ts';
import { quotedSchema } from './postgres-schema.ts';
import type { StoreTable } from './postgres-store-tables.ts';

/** How many rows of each table a load copied. */
export type LoadOutcome = Readonly<Record<string, number>>;

/** Where a load reads: the lease connection, and the tables of `schema` (`storeTables`). */
export interface LoadSource {
  readonly client: pg.Client;
  readonly schema: string;
  readonly tables: ReadonlyMap<string, StoreTable>;
}

/** Rows per page when loading: large enough to be few round trips, small enough to stay bounded. */
const loadPageSize = 5_000;

/** Copies every engine table from PostgreSQL into an empty working copy (`PostgresWriter.load`). */
export async function loadWorkingCopy(
  source: LoadSource,
  workingCopy: EngineDatabase,
  capture: ChangeCapture | undefined,
  pageSize: number = loadPageSize,
): Promise<LoadOutcome> {
  const tables = engineTables(workingCopy);
  for (const table of tables) {
    const stored = source.tables.get(table.name);
    if (stored === undefined || stored.columns.length !== table.columns.length || table.columns.some((column) => !stored.columns.includes(column)))
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `The PostgreSQL schema "${source.schema}" does not match the engine's table ${table.name}: the engine has columns ${table.columns.join(', ')}, PostgreSQL ${stored?.columns.join(', ') ?? 'no such table'}. Run every replica on one Cairn version.`,
        { path: 'engine.state.schema' },
      );
    const count = workingCopy.prepare<[], number>(`SELECT count(*) FROM main."${table.name}"`).pluck().get();
    if (count !== 0) throw new Error(`The working copy must be empty before load, but table ${table.name} has ${count} rows.`);
  }
  const counts: Record<string, number> = {};
  const pages = tablePages(source, tables, counts, pageSize);
  const inserts = new Map(tables.map((table) => [table.name, workingCopy.prepare<[string]>(insertFromJson(table))]));
  // One working-copy transaction across the pages, foreign keys checked at its end; while
  // SQLite inserts a page, PostgreSQL is already reading the next.
  const copy = async () => {
    workingCopy.exec('BEGIN');
    try {
      workingCopy.pragma('defer_foreign_keys = ON');
      let next = pages.next();
      for (;;) {
        const page = await next;
        if (page.done) break;
        next = pages.next();
        inserts.get(page.value.table.name)!.run(page.value.rows);
      }
      workingCopy.exec('COMMIT');
    } catch (error) {
      if (workingCopy.inTransaction) workingCopy.exec('ROLLBACK');
      throw error;
    }
  };
  if (capture === undefined) await copy();
  else await capture.withoutCapture(copy);
  return counts;
}

/** Every table's rows, a page at a time, each page one JSON array text built by PostgreSQL. */
async function* tablePages(
  source: LoadSource,
  tables: readonly CapturedTable[],
  counts: Record<string, number>,
  pageSize: number,
): AsyncGenerator<{ table: CapturedTable; rows: string }> {
  const schema = quotedSchema(source.schema);
  for (const table of tables) {
    const stored = source.tables.get(table.name)!;
    const order = (table.name === 'items' ? ['run_id', 'position', 'item_id'] : stored.primaryKey).map((column) => `"${column}"`).join(', ');
    const parameters = (table.name === 'items' ? ['run_id', 'position', 'item_id'] : stored.primaryKey).map(
      (column, index) => `$${index + 2}::${stored.types[column.replaceAll('"', '')]}`,
    );
    counts[table.name] = 0;
    let after: string[] | undefined;
    for (;;) {
      const { rows } = await source.client.query<{ rows: string | null; count: number; last: string[] | null }>(
        `WITH page AS (
           SELECT * FROM ${schema}."${table.name}" ${after === undefined ? '' : `WHERE (${order}) > (${parameters.join(', ')})`}
           ORDER BY ${order} LIMIT $1)
         SELECT json_agg(page ORDER BY ${order})::text AS rows, count(*)::int AS count,
                (SELECT array[${order
                  .split(', ')
                  .map((column) => `${column}::text`)
                  .join(', ')}] FROM page ORDER BY ${order
                  .split(', ')
                  .map((column) => `${column} DESC`)
                  .join(', ')} LIMIT 1) AS last
         FROM page`,
        [pageSize, ...(after ?? [])],
      );
      const page = rows[0]!;
      if (page.count === 0 || page.rows === null) break;
      counts[table.name]! += page.count;
      yield { table, rows: page.rows };
      if (page.count < pageSize) break;
      after = page.last!;
    }
  }
}

/** An INSERT that SQLite feeds from a JSON array of row objects (BLOBs as `\x<hex>`), so no row is parsed in JavaScript. */
function insertFromJson(table: CapturedTable): string {
  const values = table.columns.map((column) => {
    const extract = `json_extract(value, '$."${column}"')`;
    return table.blobColumns.includes(column) ? `unhex(substr(${extract}, 3))` : extract;
  });
  return `INSERT INTO main."${table.name}" (${table.columns.map((column) => `"${column}"`).join(', ')}) SELECT ${values.join(', ')} FROM json_each(?)`;
}
