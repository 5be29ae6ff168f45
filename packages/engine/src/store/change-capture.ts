import type { EngineDatabase } from '../database/engine-database.ts';

/** One engine table as the working copy declares it (from `pragma table_info`). */
export interface CapturedTable {
  readonly name: string;
  readonly columns: readonly string[];
  /** The primary key's columns, in key order. */
  readonly primaryKey: readonly string[];
  /** Columns declared BLOB: their values travel as `\x<hex>` strings (PostgreSQL's bytea text form). */
  readonly blobColumns: readonly string[];
}

/** What changed of one table in a batch: rows to write (last image of each) and keys to delete. */
export interface TableChanges {
  readonly table: string;
  /** Row images as JSON object texts (column name to value; BLOBs as `\x<hex>`), in first-capture order. */
  readonly upserts: readonly string[];
  /** The primary keys of `upserts`, in the same order (JSON object texts, column name to value). */
  readonly upsertKeys: readonly string[];
  /** Primary keys (JSON object texts, column name to value) of rows that existed before the batch and are gone. */
  readonly deletes: readonly string[];
}

/**
 * The captured changes of whole working-copy transactions, coalesced: a row written several times
 * appears once with its last image, a row inserted and deleted in the batch does not appear.
 * Rows are JSON texts, not objects, so that an INTEGER beyond 2^53 is never rounded on the way and
 * no row is parsed on the hot path: PostgreSQL reads them (`json_populate_recordset`).
 */
export interface ChangeBatch {
  /** Tables with changes, in the order their first change was captured. */
  readonly tables: readonly TableChanges[];
  /** How many captured writes the batch coalesces (before coalescing). */
  readonly capturedWrites: number;
}

/** The capture installed on a working copy. */
export interface ChangeCapture {
  readonly tables: readonly CapturedTable[];
  /** Takes the changes captured since the last drain and empties the capture. Call outside a transaction. */
  drain(): ChangeBatch;
  /** Runs `body` with capture off (loading the working copy from the store): its writes are not captured. A promise keeps it off until it settles. */
  withoutCapture<Result>(body: () => Result): Result;
  /** Removes the triggers and the change table. */
  uninstall(): void;
}

const changeTable = 'temp.cairn_captured_changes';
const switchTable = 'temp.cairn_capture_switch';

/** The engine tables of a database: every table of `main` but SQLite's own. */
export function engineTables(database: EngineDatabase): CapturedTable[] {
  const names = database
    .prepare<[], string>("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
    .pluck()
    .all();
  return names.map((name) => {
    const info = database.pragma(`main.table_info(${quoteIdentifier(name)})`) as { name: string; type: string; pk: number }[];
    return {
      name,
      columns: info.map((column) => column.name),
      primaryKey: info
        .filter((column) => column.pk > 0)
        .sort((left, right) => left.pk - right.pk)
        .map((column) => column.name),
      blobColumns: info.filter((column) => column.type.toUpperCase() === 'BLOB').map((column) => column.name),
    };
  });
}

/**
 * Installs change capture on a working copy: TEMP triggers after every insert, update and delete
 * of every engine table, generated from the schema (a new migration is captured without edits),
 * writing what changed into a TEMP table. Triggers run inside the statement's transaction, so a
 * rolled-back transaction (or savepoint) leaves nothing captured: a batch carries whole committed
 * transactions only. TEMP objects live on this connection alone and never reach the schema.
 */
export function captureChanges(database: EngineDatabase): ChangeCapture {
  const tables = engineTables(database);
  for (const table of tables) {
    if (table.primaryKey.length === 0)
      throw new Error(`Cannot capture changes of table ${table.name}: it has no primary key, so its rows cannot be matched in the store.`);
  }
  // An INSERT OR REPLACE removes the conflicting row without firing delete triggers unless
  // triggers may recurse; with it, the removal is captured like any delete.
  database.pragma('recursive_triggers = ON');
  database.exec(`
    CREATE TEMP TABLE IF NOT EXISTS cairn_captured_changes (
      id INTEGER PRIMARY KEY,
      table_name TEXT NOT NULL,
      op TEXT NOT NULL,
      row_key TEXT NOT NULL,
      row_image TEXT
    );
    CREATE TEMP TABLE IF NOT EXISTS cairn_capture_switch (off INTEGER NOT NULL);
    DELETE FROM ${switchTable};
  `);
  for (const table of tables) database.exec(triggersFor(table));
  const take = database.prepare<[], { table_name: string; op: string; row_key: string; row_image: string | null }>(
    `SELECT table_name, op, row_key, row_image FROM ${changeTable} ORDER BY id`,
  );
  const empty = database.prepare(`DELETE FROM ${changeTable}`);
  const switchOff = database.prepare(`INSERT INTO ${switchTable} (off) VALUES (1)`);
  const switchOn = database.prepare(`DELETE FROM ${switchTable}`);

  return {
    tables,
    drain() {
      const captured = take.all();
      if (captured.length > 0) empty.run();
      return coalesce(captured);
    },
    withoutCapture(body) {
      switchOff.run();
      let result: ReturnType<typeof body>;
      try {
        result = body();
      } catch (error) {
        switchOn.run();
        throw error;
      }
      // An asynchronous body (a load reading pages) keeps capture off until it settles.
      if (result instanceof Promise) return result.finally(() => switchOn.run()) as typeof result;
      switchOn.run();
      return result;
    },
    uninstall() {
      for (const table of tables) {
        for (const event of ['insert', 'update', 'delete', 'rekey'])
          database.exec(`DROP TRIGGER IF EXISTS temp.${quoteIdentifier(`cairn_capture_${table.name}_${event}`)}`);
      }
      database.exec(`DROP TABLE IF EXISTS ${changeTable}; DROP TABLE IF EXISTS ${switchTable};`);
    },
  };
}

function triggersFor(table: CapturedTable): string {
  // A TEMP trigger's name is unqualified, and statements inside a trigger may not qualify the table they write.
  const name = (event: string) => quoteIdentifier(`cairn_capture_${table.name}_${event}`);
  const target = `main.${quoteIdentifier(table.name)}`;
  const literal = quoteLiteral(table.name);
  const value = (row: 'NEW' | 'OLD', column: string) =>
    table.blobColumns.includes(column)
      ? `CASE WHEN ${row}.${quoteIdentifier(column)} IS NULL THEN NULL ELSE '\\x' || lower(hex(${row}.${quoteIdentifier(column)})) END`
      : `${row}.${quoteIdentifier(column)}`;
  const object = (row: 'NEW' | 'OLD', columns: readonly string[]) =>
    `json_object(${columns.map((column) => `${quoteLiteral(column)}, ${value(row, column)}`).join(', ')})`;
  const enabled = `NOT EXISTS (SELECT 1 FROM cairn_capture_switch)`;
  const keyChanged = table.primaryKey.map((column) => `OLD.${quoteIdentifier(column)} IS NOT NEW.${quoteIdentifier(column)}`).join(' OR ');
  const record = (op: string, row: 'NEW' | 'OLD', image: boolean) =>
    `INSERT INTO cairn_captured_changes (table_name, op, row_key, row_image) VALUES (${literal}, '${op}', ${object(row, table.primaryKey)}, ${image ? object(row, table.columns) : 'NULL'});`;
  return `
    DROP TRIGGER IF EXISTS temp.${name('insert')};
    DROP TRIGGER IF EXISTS temp.${name('update')};
    DROP TRIGGER IF EXISTS temp.${name('delete')};
    DROP TRIGGER IF EXISTS temp.${name('rekey')};
    CREATE TEMP TRIGGER ${name('insert')} AFTER INSERT ON ${target} WHEN ${enabled}
    BEGIN ${record('insert', 'NEW', true)} END;
    -- An update that changes the primary key removes the old row in the store first.
    CREATE TEMP TRIGGER ${name('rekey')} AFTER UPDATE ON ${target} WHEN ${enabled} AND (${keyChanged})
    BEGIN ${record('delete', 'OLD', false)} END;
    CREATE TEMP TRIGGER ${name('update')} AFTER UPDATE ON ${target} WHEN ${enabled}
    BEGIN ${record('update', 'NEW', true)} END;
    CREATE TEMP TRIGGER ${name('delete')} AFTER DELETE ON ${target} WHEN ${enabled}
    BEGIN ${record('delete', 'OLD', false)} END;
  `;
}

interface RowFate {
  /** Inserted in this batch (so a delete in it means the store never saw the row). */
  readonly insertedHere: boolean;
  image: string | null;
}

function coalesce(captured: readonly { table_name: string; op: string; row_key: string; row_image: string | null }[]): ChangeBatch {
  const byTable = new Map<string, Map<string, RowFate>>();
  for (const change of captured) {
    let rows = byTable.get(change.table_name);
    if (rows === undefined) byTable.set(change.table_name, (rows = new Map()));
    const fate = rows.get(change.row_key);
    // The last image wins; a row deleted and inserted again under its key is an overwrite.
    if (fate === undefined) rows.set(change.row_key, { insertedHere: change.op === 'insert', image: change.row_image });
    else fate.image = change.row_image;
  }
  const tables: TableChanges[] = [];
  for (const [table, rows] of byTable) {
    const upserts: string[] = [];
    const upsertKeys: string[] = [];
    const deletes: string[] = [];
    for (const [key, fate] of rows) {
      if (fate.image !== null) {
        upserts.push(fate.image);
        upsertKeys.push(key);
      } else if (!fate.insertedHere) deletes.push(key);
    }
    if (upserts.length > 0 || deletes.length > 0) tables.push({ table, upserts, upsertKeys, deletes });
  }
  return { tables, capturedWrites: captured.length };
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
