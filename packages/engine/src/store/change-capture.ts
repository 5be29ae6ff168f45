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
  /**
   * Takes the changes captured since the last drain and empties the capture. Call between
   * working-copy transactions (never inside one): row images are read as they are at the call.
   */
  drain(): ChangeBatch;
  /** Runs `body` with capture off (loading the working copy from the store): its writes are not captured. A promise keeps it off until it settles. */
  withoutCapture<Result>(body: () => Result): Result;
  /** Removes the triggers and the change table. */
  uninstall(): void;
}

const changeTable = 'temp.cairn_captured_changes';
const triggerEvents = ['insert', 'update', 'delete', 'rekey'] as const;

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
 * writing the key of each row written into a TEMP table; `drain` reads the rows' images once, as
 * they are then. Triggers run inside the statement's transaction, so a
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
      row_key TEXT NOT NULL
    );
  `);
  const installTriggers = () => {
    for (const table of tables) database.exec(triggersFor(table));
  };
  const dropTriggers = () => {
    for (const table of tables) {
      for (const event of triggerEvents) database.exec(`DROP TRIGGER IF EXISTS temp.${quoteIdentifier(`cairn_capture_${table.name}_${event}`)}`);
    }
  };
  installTriggers();
  const changedTables = database.prepare<[], { table_name: string; writes: number }>(
    `SELECT table_name, count(*) AS writes FROM ${changeTable} GROUP BY table_name ORDER BY min(id)`,
  );
  const rowsOf = new Map(tables.map((table) => [table.name, database.prepare<[], CapturedRow>(currentRows(table))]));
  const empty = database.prepare(`DELETE FROM ${changeTable}`);

  return {
    tables,
    drain() {
      if (database.inTransaction)
        throw new Error('drain() was called inside a working-copy transaction: a batch carries whole transactions only. Drain after it commits.');
      const changed = changedTables.all();
      if (changed.length === 0) return { tables: [], capturedWrites: 0 };
      const batch: TableChanges[] = [];
      let capturedWrites = 0;
      for (const { table_name: table, writes } of changed) {
        capturedWrites += writes;
        const upserts: string[] = [];
        const upsertKeys: string[] = [];
        const deletes: string[] = [];
        for (const row of rowsOf.get(table)!.all()) {
          if (row.image !== null) {
            upserts.push(row.image);
            upsertKeys.push(row.row_key);
          } else if (row.inserted_here !== 1) deletes.push(row.row_key);
        }
        if (upserts.length > 0 || deletes.length > 0) batch.push({ table, upserts, upsertKeys, deletes });
      }
      empty.run();
      return { tables: batch, capturedWrites };
    },
    withoutCapture(body) {
      // The triggers are dropped rather than told to skip: a check on every captured write would
      // cost the hot path for the sake of a load that happens once per lease.
      dropTriggers();
      let result: ReturnType<typeof body>;
      try {
        result = body();
      } catch (error) {
        installTriggers();
        throw error;
      }
      // An asynchronous body (a load reading pages) keeps capture off until it settles.
      if (result instanceof Promise) return result.finally(installTriggers) as typeof result;
      installTriggers();
      return result;
    },
    uninstall() {
      dropTriggers();
      database.exec(`DROP TABLE IF EXISTS ${changeTable}`);
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
  const keyChanged = table.primaryKey.map((column) => `OLD.${quoteIdentifier(column)} IS NOT NEW.${quoteIdentifier(column)}`).join(' OR ');
  const record = (op: string, row: 'NEW' | 'OLD') =>
    `INSERT INTO cairn_captured_changes (table_name, op, row_key) VALUES (${literal}, '${op}', ${object(row, table.primaryKey)});`;
  return `
    DROP TRIGGER IF EXISTS temp.${name('insert')};
    DROP TRIGGER IF EXISTS temp.${name('update')};
    DROP TRIGGER IF EXISTS temp.${name('delete')};
    DROP TRIGGER IF EXISTS temp.${name('rekey')};
    CREATE TEMP TRIGGER ${name('insert')} AFTER INSERT ON ${target}
    BEGIN ${record('insert', 'NEW')} END;
    -- An update that changes the primary key removes the old row in the store first.
    CREATE TEMP TRIGGER ${name('rekey')} AFTER UPDATE ON ${target} WHEN ${keyChanged}
    BEGIN ${record('delete', 'OLD')} END;
    CREATE TEMP TRIGGER ${name('update')} AFTER UPDATE ON ${target}
    BEGIN ${record('update', 'NEW')} END;
    CREATE TEMP TRIGGER ${name('delete')} AFTER DELETE ON ${target}
    BEGIN ${record('delete', 'OLD')} END;
  `;
}

interface CapturedRow {
  readonly row_key: string;
  /** 1 when the row's first captured write in the batch was its insert (the store never saw it). */
  readonly inserted_here: number;
  /** The row as it is now (JSON object text), null when it is gone. */
  readonly image: string | null;
}

/**
 * The changed rows of one table, coalesced: each key once, in the order of its first write, with
 * the row's image read now (its last state, whatever happened in between), or null when it is
 * gone. The triggers record keys only, so a row written N times costs N small inserts and one
 * image, and rows are read where SQLite already has them.
 */
function currentRows(table: CapturedTable): string {
  const column = (name: string) => `current.${quoteIdentifier(name)}`;
  const image = `json_object(${table.columns
    .map((name) =>
      table.blobColumns.includes(name)
        ? `${quoteLiteral(name)}, CASE WHEN ${column(name)} IS NULL THEN NULL ELSE '\\x' || lower(hex(${column(name)})) END`
        : `${quoteLiteral(name)}, ${column(name)}`,
    )
    .join(', ')})`;
  const matches = table.primaryKey.map((name) => `${column(name)} = (changed.row_key ->> ${quoteLiteral(`$.${name}`)})`).join(' AND ');
  return `
    SELECT changed.row_key, changed.inserted_here,
           CASE WHEN ${column(table.primaryKey[0]!)} IS NULL THEN NULL ELSE ${image} END AS image
    FROM (
      SELECT row_key, min(id) AS first, min(id) = min(CASE WHEN op = 'insert' THEN id END) AS inserted_here
      FROM ${changeTable} WHERE table_name = ${quoteLiteral(table.name)} GROUP BY row_key
    ) AS changed
    LEFT JOIN main.${quoteIdentifier(table.name)} AS current ON ${matches}
    ORDER BY changed.first`;
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
