import { randomBytes } from 'node:crypto';
import { CairnError } from '@cairn/protocol';
import type { ChangeBatch } from '../change-capture.ts';
import { commandChannels, commandErrorJson, type CommandResult } from './postgres-commands.ts';
import { quotedSchema } from './postgres-schema.ts';
import type { StoreTable } from './postgres-store-tables.ts';

/** The audit table: the one table whose keys the commit checks. */
const auditTable = 'audit_entries';

/** The SQLSTATE `assert_audit_continues` raises (postgres-schema.ts). */
export const auditGapState = 'CR001';

/** A commit as PostgreSQL runs it: its statements, sent as one message, and what reading its answer needs. */
export interface CommitStatements {
  readonly sql: string;
  /** The indexes of the statements that write rows: their row counts add up to the commit's. */
  readonly modifications: readonly number[];
  /** The last audit sequence number the batch adds; undefined when it adds none. */
  readonly lastSeq: number | undefined;
}

/**
 * The statements of one commit (`PostgresWriter.commit`) of `batch` and `commandResults` into
 * `schema`: the check that the batch's audit entries continue the stored sequence, per table one
 * delete and one upsert, the command results, and the notifications. A batch that deletes audit
 * entries, or whose entries have gaps, is refused here (CAIRN_STATE_CONFLICT) before anything is sent.
 */
export function commitStatements(
  batch: ChangeBatch,
  commandResults: readonly CommandResult[],
  tables: ReadonlyMap<string, StoreTable>,
  schema: string,
): CommitStatements {
  const quoted = quotedSchema(schema);
  const audit = batch.tables.find((changes) => changes.table === auditTable);
  let firstSeq: number | undefined;
  let lastSeq: number | undefined;
  if (audit !== undefined) {
    if (audit.deletes.length > 0) throw commitConflict(schema, `the batch deletes ${audit.deletes.length} audit entries; audit entries are never deleted`);
    if (audit.upsertKeys.length > 0) {
      const seqs = audit.upsertKeys.map((key) => (JSON.parse(key) as { seq: number }).seq).sort((left, right) => left - right);
      firstSeq = seqs[0]!;
      lastSeq = seqs.at(-1)!;
      if (lastSeq - firstSeq !== seqs.length - 1)
        throw commitConflict(schema, `the batch's audit entries ${firstSeq}..${lastSeq} have gaps (${seqs.length} entries)`);
    }
  }
  const statements: string[] = [];
  // Statements in one simple-query message run as one implicit transaction: an error in any
  // rolls all of them back, and NOTIFYs are delivered only if it commits.
  if (firstSeq !== undefined) statements.push(`SELECT ${quoted}.assert_audit_continues(${firstSeq})`);
  const modifications: number[] = [];
  for (const changes of batch.tables) {
    const table = tables.get(changes.table);
    if (table === undefined) throw new Error(`The batch changes table ${changes.table}, which the PostgreSQL schema "${schema}" lacks.`);
    if (changes.deletes.length > 0) {
      modifications.push(statements.length);
      statements.push(table.deleteSql(dollarQuoted(`[${changes.deletes.join(',')}]`)));
    }
  }
  for (const changes of batch.tables) {
    if (changes.upserts.length === 0) continue;
    modifications.push(statements.length);
    statements.push(tables.get(changes.table)!.upsertSql(dollarQuoted(`[${changes.upserts.join(',')}]`)));
  }
  const channels = commandChannels(schema);
  if (commandResults.length > 0) {
    const answered = commandResults.map((answer) =>
      answer.ok
        ? { id: answer.id, state: 'done', result: answer.result, error: null }
        : { id: answer.id, state: 'failed', result: null, error: commandErrorJson(answer.error) },
    );
    statements.push(
      `WITH answered AS (
         UPDATE ${quoted}.engine_commands AS command
         SET state = answer.state, result = answer.result, error = answer.error, done_at = now()
         FROM json_to_recordset(${dollarQuoted(JSON.stringify(answered))}::json) AS answer (id bigint, state text, result jsonb, error jsonb)
         WHERE command.id = answer.id RETURNING command.id)
       SELECT pg_notify('${channels.done}', id::text) FROM answered`,
    );
  }
  if (lastSeq !== undefined) statements.push(`SELECT pg_notify('${channels.audit}', '${lastSeq + 1}')`);
  return { sql: statements.join(';\n'), modifications, lastSeq };
}

/** The refusal of a commit that means another writer, or a working copy that is not what is stored. */
export function commitConflict(schema: string, what: string): CairnError {
  return new CairnError(
    'CAIRN_STATE_CONFLICT',
    `Commit refused: ${what}. Another writer has changed schema "${schema}" or this engine's working copy is not what is stored; nothing was written. Stop every other engine on this database and restart this one to reload the state.`,
    { path: 'engine.state', details: { schema } },
  );
}

/**
 * `text` as a dollar-quoted SQL literal: taken verbatim by PostgreSQL (no escapes), under a tag
 * the text does not contain, so no content can end it early.
 */
function dollarQuoted(json: string): string {
  const text = json.includes('\\u0000') ? withoutNul(json) : json;
  let tag = 'cairn';
  while (text.includes(`$${tag}$`)) tag = `cairn_${randomBytes(6).toString('hex')}`;
  return `$${tag}$${text}$${tag}$`;
}

/**
 * PostgreSQL's text cannot hold U+0000 (SQLite's can: a task's stderr tail may carry one), and a
 * row with one would refuse the whole commit. In the JSON the working copy made, each `\u0000`
 * escape (not an escaped backslash before `u0000`) becomes U+FFFD, the replacement character.
 */
function withoutNul(json: string): string {
  return json.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');
}
