import type pg from 'pg';
import { isAppendOnlyTable } from '../change-capture.ts';
import { postgresOnlyTables, quotedSchema } from './postgres-schema.ts';

/** One engine table as the PostgreSQL schema holds it, with the statements a commit writes it with. */
export interface StoreTable {
  readonly name: string;
  readonly columns: readonly string[];
  readonly primaryKey: readonly string[];
  /** Column name to PostgreSQL type (for keyset paging). */
  readonly types: Readonly<Record<string, string>>;
  /** The upsert of a JSON array of row images, given as an SQL literal. */
  upsertSql: (rows: string) => string;
  /** The delete of a JSON array of primary keys, given as an SQL literal. */
  deleteSql: (keys: string) => string;
}

/** The engine tables of `schema` (not those only PostgreSQL has), read from its catalogue, by name. */
export async function storeTables(client: pg.Client, schema: string): Promise<Map<string, StoreTable>> {
  const { rows } = await client.query<{ table_name: string; column_name: string; data_type: string; key_position: number | null }>(
    `SELECT c.table_name, c.column_name, c.data_type, k.ordinal_position AS key_position
     FROM information_schema.columns AS c
     LEFT JOIN information_schema.table_constraints AS t
       ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.constraint_type = 'PRIMARY KEY'
     LEFT JOIN information_schema.key_column_usage AS k
       ON k.constraint_schema = t.constraint_schema AND k.constraint_name = t.constraint_name AND k.column_name = c.column_name
     WHERE c.table_schema = $1
     ORDER BY c.table_name, c.ordinal_position`,
    [schema],
  );
  const quoted = quotedSchema(schema);
  const tables = new Map<string, StoreTable>();
  for (const row of rows) {
    if (postgresOnlyTables.includes(row.table_name)) continue;
    let table = tables.get(row.table_name);
    if (table === undefined) {
      table = { name: row.table_name, columns: [], primaryKey: [], types: {}, upsertSql: () => '', deleteSql: () => '' };
      tables.set(row.table_name, table);
    }
    (table.columns as string[]).push(row.column_name);
    (table.types as Record<string, string>)[row.column_name] = row.data_type;
    if (row.key_position !== null) (table.primaryKey as string[])[row.key_position - 1] = row.column_name;
  }
  for (const table of tables.values()) {
    const columns = table.columns.map((column) => `"${column}"`).join(', ');
    const key = table.primaryKey.map((column) => `"${column}"`).join(', ');
    const rest = table.columns.filter((column) => !table.primaryKey.includes(column));
    const target = `${quoted}."${table.name}"`;
    const updates = rest.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${rest.map((column) => `"${column}" = EXCLUDED."${column}"`).join(', ')}`;
    const matches = table.primaryKey.map((column) => `stored."${column}" = gone."${column}"`).join(' AND ');
    // An append-only table's rows are new (the audit log's batches continue the stored sequence,
    // checked first): a plain INSERT, which PostgreSQL runs faster than an upsert, and which
    // refuses a rewrite of a stored row outright.
    const conflict = isAppendOnlyTable(table.name) ? '' : ` ON CONFLICT (${key}) ${updates}`;
    table.upsertSql = (rows) => `INSERT INTO ${target} (${columns}) SELECT ${columns} FROM json_populate_recordset(NULL::${target}, ${rows}::json)${conflict}`;
    table.deleteSql = (keys) => `DELETE FROM ${target} AS stored USING json_populate_recordset(NULL::${target}, ${keys}::json) AS gone WHERE ${matches}`;
  }
  return tables;
}
