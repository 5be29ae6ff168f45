import type { EngineDatabase } from './shared/engine-database.ts';

/** One engine table as the working copy declares it (from `pragma table_info`). */
export interface CapturedTable {
  readonly name: string;
  readonly columns: readonly string[];
  /** The primary key's columns, in key order. */
  readonly primaryKey: readonly string[];
  /** Columns declared BLOB: their values travel as `\x<hex>` strings (PostgreSQL's bytea text form). */
  readonly blobColumns: readonly string[];
  /** Whether the table is WITHOUT ROWID (its rows are found by key, not by rowid). */
  readonly withoutRowid: boolean;
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
  /** Tables with changes, in the order their first change was captured, then the append-only tables. */
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
/**
 * Tables whose rows are only ever appended, at rowids above every earlier row's (the audit log:
 * ADR 0027; its INTEGER PRIMARY KEY `seq` is the rowid): captured as the range of rowids above
 * the last one drained, with no trigger on their inserts. Updates and deletes of them are refused
 * in the working copy, so the range is all that can change.
 */
const appendOnlyTables = new Set(['audit_entries']);

/** Whether rows of `table` are only ever appended, never updated or deleted (the audit log). */
export function isAppendOnlyTable(table: string): boolean {
  return appendOnlyTables.has(table);
}

const triggerEvents = ['insert', 'update', 'delete', 'rekey'] as const;

/** The engine tables of a database: every table of `main` but SQLite's own. */
export function engineTables(database: EngineDatabase): CapturedTable[] {
  const names = database
    .prepare<[], string>("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
    .pluck()
    .all();
  return names.map((name) => {
    const info = database.pragma(`main.table_info(${quoteIdentifier(name)})`) as { name: string; type: string; pk: number }[];
    const [listed] = database.pragma(`main.table_list(${quoteIdentifier(name)})`) as { wr: number }[];
    return {
      name,
      columns: info.map((column) => column.name),
      primaryKey: info
        .filter((column) => column.pk > 0)
        .sort((left, right) => left.pk - right.pk)
        .map((column) => column.name),
      blobColumns: info.filter((column) => column.type.toUpperCase() === 'BLOB').map((column) => column.name),
      withoutRowid: listed?.wr === 1,
    };
  });
}

/**
 * Installs change capture on a working copy: TEMP triggers after every insert, update and delete
 * of every engine table, generated from the schema (a new migration is captured without edits),
 * writing which row was written into a TEMP table (its rowid; its key for a WITHOUT ROWID table,
 * and for every delete, since a row gone has no rowid to read); `drain` reads the rows' images
 * once, as they are then. An append-only table (the audit log) is read as the rows appended
 * since the last drain instead. Triggers run inside the statement's transaction, so a rolled-back
 * transaction (or savepoint) leaves nothing captured, as it leaves no row appended: a batch
 * carries whole committed transactions only. TEMP objects live on this connection alone and
 * never reach the schema.
 */
export function captureChanges(database: EngineDatabase): ChangeCapture {
  const tables = engineTables(database);
  for (const table of tables) {
    if (table.primaryKey.length === 0)
      throw new Error(`Cannot capture changes of table ${table.name}: it has no primary key, so its rows cannot be matched in the store.`);
  }
  const appended = tables
    .filter((table) => appendOnlyTables.has(table.name))
    .map((table) => {
      if (table.withoutRowid) throw new Error(`Cannot capture table ${table.name} as append-only: it has no rowids to read a range of.`);
      return {
        table,
        last: database.prepare<[], number | null>(`SELECT max(rowid) FROM main.${quoteIdentifier(table.name)}`).pluck(),
        rows: database.prepare<[number], AppendedRow>(rowsAppended(table)),
        /** The rowid of the last row drained (or there before capture); rows above it are the batch's. */
        drained: Number.MIN_SAFE_INTEGER,
      };
    });
  // What is there when capture starts, or was written while it was off, is not a batch's.
  const skipAppended = () => {
    for (const range of appended) range.drained = range.last.get() ?? Number.MIN_SAFE_INTEGER;
  };
  skipAppended();
  // An INSERT OR REPLACE removes the conflicting row without firing delete triggers unless
  // triggers may recurse; with it, the removal is captured like any delete.
  database.pragma('recursive_triggers = ON');
  database.exec(`
    CREATE TEMP TABLE IF NOT EXISTS cairn_captured_changes (
      id INTEGER PRIMARY KEY,
      table_name TEXT NOT NULL,
      op TEXT NOT NULL,
      row_key TEXT,
      row_id INTEGER
    );
  `);
  const installTriggers = () => {
    for (const table of tables) database.exec(appendOnlyTables.has(table.name) ? appendOnlyGuards(table) : triggersFor(table));
  };
  const resume = () => {
    skipAppended();
    installTriggers();
  };
  const dropTriggers = () => {
    for (const table of tables) {
      for (const event of triggerEvents) database.exec(`DROP TRIGGER IF EXISTS temp.${triggerName(table, event)}`);
    }
  };
  installTriggers();
  const changedTables = database.prepare<[], { table_name: string; writes: number; deletes: number }>(
    `SELECT table_name, count(*) AS writes, sum(op = 'delete') AS deletes FROM ${changeTable} GROUP BY table_name ORDER BY min(id)`,
  );
  const readsOf = new Map(
    tables.map((table) => [
      table.name,
      table.withoutRowid
        ? { rows: database.prepare<[], CapturedRow>(rowsByKey(table)), deletes: undefined }
        : { rows: database.prepare<[], CapturedRow>(rowsByRowid(table)), deletes: database.prepare<[], string>(deletesByRowid(table)).pluck() },
    ]),
  );
  const empty = database.prepare(`DELETE FROM ${changeTable}`);

  return {
    tables,
    drain() {
      if (database.inTransaction)
        throw new Error('drain() was called inside a working-copy transaction: a batch carries whole transactions only. Drain after it commits.');
      const changed = changedTables.all();
      const batch: TableChanges[] = [];
      let capturedWrites = 0;
      for (const { table_name: table, writes, deletes: deleted } of changed) {
        capturedWrites += writes;
        const reads = readsOf.get(table)!;
        const upserts: string[] = [];
        const upsertKeys: string[] = [];
        const deletes: string[] = [];
        for (const row of reads.rows.all()) {
          if (row.image !== null) {
            upserts.push(row.image);
            upsertKeys.push(row.row_key);
          } else if (row.inserted_here !== 1) deletes.push(row.row_key);
        }
        if (reads.deletes !== undefined && deleted > 0) deletes.push(...reads.deletes.all());
        if (upserts.length > 0 || deletes.length > 0) batch.push({ table, upserts, upsertKeys, deletes });
      }
      if (changed.length > 0) empty.run();
      for (const range of appended) {
        const rows = range.rows.all(range.drained);
        if (rows.length === 0) continue;
        capturedWrites += rows.length;
        range.drained = rows.at(-1)!.row_id;
        batch.push({ table: range.table.name, upserts: rows.map((row) => row.image), upsertKeys: rows.map((row) => row.row_key), deletes: [] });
      }
      return { tables: batch, capturedWrites };
    },
    withoutCapture(body) {
      // Rows appended before it and not drained would be taken for the body's, which are skipped.
      if (appended.some((range) => (range.last.get() ?? Number.MIN_SAFE_INTEGER) > range.drained))
        throw new Error('withoutCapture() was called with appended rows not drained yet: drain first, or they never reach the store.');
      // The triggers are dropped rather than told to skip: a check on every captured write would
      // cost the hot path for the sake of a load that happens once per lease.
      dropTriggers();
      let result: ReturnType<typeof body>;
      try {
        result = body();
      } catch (error) {
        resume();
        throw error;
      }
      // An asynchronous body (a load reading pages) keeps capture off until it settles.
      if (result instanceof Promise) return result.finally(resume) as typeof result;
      resume();
      return result;
    },
    uninstall() {
      dropTriggers();
      database.exec(`DROP TABLE IF EXISTS ${changeTable}`);
    },
  };
}

// An append-only table's guards: no update or delete reaches it, so the rows appended since the
// last drain are all of its changes (an edit would otherwise never reach the store).
function appendOnlyGuards(table: CapturedTable): string {
  const name = (event: (typeof triggerEvents)[number]) => triggerName(table, event);
  const refusal = quoteLiteral(`${table.name} is append-only in a working copy: its rows are captured as the range appended since the last drain`);
  return `
    DROP TRIGGER IF EXISTS temp.${name('update')};
    DROP TRIGGER IF EXISTS temp.${name('delete')};
    CREATE TEMP TRIGGER ${name('update')} BEFORE UPDATE ON main.${quoteIdentifier(table.name)} BEGIN SELECT RAISE(ABORT, ${refusal}); END;
    CREATE TEMP TRIGGER ${name('delete')} BEFORE DELETE ON main.${quoteIdentifier(table.name)} BEGIN SELECT RAISE(ABORT, ${refusal}); END;
  `;
}

// A table with rowids records the rowid of each row inserted or updated (reading it back at the
// drain is a rowid lookup, where a key as JSON has to be taken apart first); a WITHOUT ROWID
// table records keys. A delete records the key either way (and the rowid it had).
function triggersFor(table: CapturedTable): string {
  // Statements inside a trigger may not qualify the table they write.
  const name = (event: (typeof triggerEvents)[number]) => triggerName(table, event);
  const target = `main.${quoteIdentifier(table.name)}`;
  const literal = quoteLiteral(table.name);
  const keyChanged = table.primaryKey.map((column) => `OLD.${quoteIdentifier(column)} IS NOT NEW.${quoteIdentifier(column)}`).join(' OR ');
  const record = (op: string, row: 'NEW' | 'OLD') =>
    table.withoutRowid || op === 'delete'
      ? `INSERT INTO cairn_captured_changes (table_name, op, row_key, row_id) VALUES (${literal}, '${op}', ${rowObject(table, row, table.primaryKey)}, ${table.withoutRowid ? 'NULL' : `${row}.rowid`});`
      : `INSERT INTO cairn_captured_changes (table_name, op, row_id) VALUES (${literal}, '${op}', ${row}.rowid);`;
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

/** The capture's trigger of `table` for `event`, quoted (a TEMP trigger's name is unqualified). */
function triggerName(table: CapturedTable, event: (typeof triggerEvents)[number]): string {
  return quoteIdentifier(`cairn_capture_${table.name}_${event}`);
}

interface CapturedRow {
  readonly row_key: string;
  /** 1 when the row's first captured write in the batch was its insert (the store never saw it). */
  readonly inserted_here: number;
  /** The row as it is now (JSON object text), null when it is gone. */
  readonly image: string | null;
}

/** `columns` of `row` (a trigger's NEW or OLD, or a table alias) as one JSON object text; BLOBs as `\x<hex>`. */
function rowObject(table: CapturedTable, row: string, columns: readonly string[]): string {
  const value = (column: string) =>
    table.blobColumns.includes(column)
      ? `CASE WHEN ${row}.${quoteIdentifier(column)} IS NULL THEN NULL ELSE '\\x' || lower(hex(${row}.${quoteIdentifier(column)})) END`
      : `${row}.${quoteIdentifier(column)}`;
  return `json_object(${columns.map((column) => `${quoteLiteral(column)}, ${value(column)}`).join(', ')})`;
}

/** The condition that `current`'s key is the one in the JSON object text `keyText`. */
function keyMatches(table: CapturedTable, keyText: string): string {
  return table.primaryKey.map((name) => `current.${quoteIdentifier(name)} = (${keyText} ->> ${quoteLiteral(`$.${name}`)})`).join(' AND ');
}

/**
 * The changed rows of a WITHOUT ROWID table, coalesced: each key once, in the order of its first
 * write, with the row's image read now (its last state, whatever happened in between), or null
 * when it is gone. The triggers record keys only, so a row written N times costs N small inserts
 * and one image, and rows are read where SQLite already has them.
 */
function rowsByKey(table: CapturedTable): string {
  return `
    SELECT changed.row_key, changed.inserted_here,
           CASE WHEN current.${quoteIdentifier(table.primaryKey[0]!)} IS NULL THEN NULL ELSE ${rowObject(table, 'current', table.columns)} END AS image
    FROM (
      SELECT row_key, min(id) AS first, min(id) = min(CASE WHEN op = 'insert' THEN id END) AS inserted_here
      FROM ${changeTable} WHERE table_name = ${quoteLiteral(table.name)} GROUP BY row_key
    ) AS changed
    LEFT JOIN main.${quoteIdentifier(table.name)} AS current ON ${keyMatches(table, 'changed.row_key')}
    ORDER BY changed.first`;
}

/**
 * The rows of a table with rowids that were inserted or updated and are there now: each once,
 * in the order of its first write, with its key and image read now. A row moves to another rowid
 * only through a delete (or a new INTEGER PRIMARY KEY), which is recorded as a delete of its key.
 */
function rowsByRowid(table: CapturedTable): string {
  return `
    SELECT ${rowObject(table, 'current', table.primaryKey)} AS row_key, 0 AS inserted_here, ${rowObject(table, 'current', table.columns)} AS image
    FROM (
      SELECT row_id, min(id) AS first FROM ${changeTable}
      WHERE table_name = ${quoteLiteral(table.name)} AND op <> 'delete' GROUP BY row_id
    ) AS changed
    JOIN main.${quoteIdentifier(table.name)} AS current ON current.rowid = changed.row_id
    ORDER BY changed.first`;
}

interface AppendedRow {
  readonly row_id: number;
  readonly row_key: string;
  readonly image: string;
}

/** The rows of an append-only table above a rowid, in rowid order, with keys and images. */
function rowsAppended(table: CapturedTable): string {
  return `
    SELECT rowid AS row_id, ${rowObject(table, 'current', table.primaryKey)} AS row_key, ${rowObject(table, 'current', table.columns)} AS image
    FROM main.${quoteIdentifier(table.name)} AS current WHERE rowid > ? ORDER BY rowid`;
}

/**
 * The keys of a table with rowids deleted in the batch and gone now, in the order of their first
 * delete, less those the store never had: a key whose first delete was of a row inserted in the
 * batch (the first write recorded at that rowid an insert). A row the store had was at that
 * rowid since the batch began, so its first recorded write there is never an insert; a rowid
 * reused in the batch may send a delete the store did not need, which deletes nothing.
 */
function deletesByRowid(table: CapturedTable): string {
  const name = quoteLiteral(table.name);
  return `
    SELECT gone.row_key
    FROM (
      SELECT row_key, row_id, min(id) AS first FROM ${changeTable} WHERE table_name = ${name} AND op = 'delete' GROUP BY row_key
    ) AS gone
    -- A bare column beside min(): SQLite takes op from the row of the smallest id, the first write.
    JOIN (SELECT row_id, op, min(id) FROM ${changeTable} WHERE table_name = ${name} GROUP BY row_id) AS opened ON opened.row_id = gone.row_id
    LEFT JOIN main.${quoteIdentifier(table.name)} AS current ON ${keyMatches(table, 'gone.row_key')}
    WHERE opened.op <> 'insert' AND current.rowid IS NULL
    ORDER BY gone.first`;
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
