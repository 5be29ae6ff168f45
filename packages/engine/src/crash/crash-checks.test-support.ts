// What must hold of the engine's database whatever moment the process died at, read from the
// files a killed engine left (the database opened read-only, no engine started): the audit log is
// whole and recomputes its own tree and every signed checkpoint, completions are recorded once,
// and the state tables agree with the log written in the same transactions.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEntry, DsseEnvelope, JsonValue, PublicKeyRecord } from '@cairn/core';
import { canonicalJson, resultKey } from '@cairn/protocol';
import { InMemoryMerkleNodeStore, leafHashOfText, MerkleLog, openCheckpoint, trustedKeyFrom, verifyLog } from '@cairn/audit';
import { SqliteMerkleNodeStore } from '../store/sqlite/sqlite-merkle-node-store.ts';
import { idempotencyKey } from './crash-plan.test-support.ts';

/** Where the run is, for choosing the next kill point and for the final assertions. */
export interface CrashProgress {
  readonly runId: string | undefined;
  readonly runState: string | undefined;
  /** Items by state. */
  readonly items: Readonly<Record<string, number>>;
  /** Attempts by state. */
  readonly attempts: Readonly<Record<string, number>>;
  /** Items that still need at least one new execution (ready or blocked). */
  readonly needNew: number;
  readonly auditEntries: number;
  readonly checkpoints: number;
  /** The last checkpoint's envelope, if any. */
  readonly lastCheckpoint: DsseEnvelope | undefined;
  /** Audit actions by count. */
  readonly actions: Readonly<Record<string, number>>;
  /** Execution ids of every attempt, with its state. */
  readonly attemptStates: ReadonlyMap<string, string>;
}

export interface CrashInspection {
  readonly problems: string[];
  readonly progress: CrashProgress;
  readonly entries: AuditEntry[];
}

const countBy = <T>(values: Iterable<T>, key: (value: T) => string): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const value of values) counts[key(value)] = (counts[key(value)] ?? 0) + 1;
  return counts;
};

/** Checks every invariant over `<directory>/engine.db` (and the results in its storage). */
export function inspectCrashDirectory(directory: string, trustedKey: PublicKeyRecord): CrashInspection {
  const database = new Database(join(directory, 'engine.db'), { readonly: true, fileMustExist: true });
  try {
    return inspectCrashDatabase(database, directory, trustedKey);
  } finally {
    database.close();
  }
}

/** Checks every invariant over an engine database (a copy of a PostgreSQL store's, say) and the results in `<directory>`'s storage. */
export function inspectCrashDatabase(database: Database.Database, directory: string, trustedKey: PublicKeyRecord): CrashInspection {
  const problems: string[] = [];
  const problem = (text: string) => {
    if (problems.length < 50) problems.push(text);
  };

  // 1. The log: seq 0..n-1 without gaps, each body its own entry, and the stored tree's root (its
  //    nodes of levels 4, 8, 12, ..., its leaves the bodies' hashes) the root recomputed from the
  //    bodies, each stored node the hash of the entries under it.
  const rows = database.prepare<[], { seq: number; body: string }>('SELECT seq, body FROM audit_entries ORDER BY seq').all();
  const entries: AuditEntry[] = [];
  const recomputed = new InMemoryMerkleNodeStore();
  const tree = MerkleLog.open(recomputed);
  const rootAt = new Map<number, string>();
  const checkpointRows = database
    .prepare<[], { treeSize: number; envelope: string; anchored: number }>(
      'SELECT tree_size AS treeSize, envelope, anchored FROM checkpoints ORDER BY tree_size',
    )
    .all();
  const checkpointSizes = new Set(checkpointRows.map((row) => row.treeSize));
  rows.forEach((row, index) => {
    if (row.seq !== index) problem(`audit seq ${row.seq} found where seq ${index} belongs: the log has a gap`);
    const entry = JSON.parse(row.body) as AuditEntry;
    if (entry.seq !== row.seq) problem(`the body of audit row ${row.seq} says seq ${entry.seq}`);
    tree.appendLeafHash(leafHashOfText(row.body));
    if (checkpointSizes.has(tree.size)) rootAt.set(tree.size, Buffer.from(tree.rootHash()).toString('hex'));
    entries.push(entry);
  });
  const stored = MerkleLog.open(new SqliteMerkleNodeStore(database));
  if (stored.size !== rows.length) problem(`the stored tree has size ${stored.size}, the log ${rows.length} entries`);
  else if (!Buffer.from(stored.rootHash()).equals(Buffer.from(tree.rootHash())))
    problem('the stored tree root is not the root recomputed from the audit entries');
  for (const node of database.prepare<[], { level: number; idx: number; hash: Buffer }>('SELECT level, idx, hash FROM merkle_nodes').iterate()) {
    const expected = recomputed.get(node.level, node.idx);
    if (expected === undefined || !node.hash.equals(expected))
      problem(`the stored merkle node (${node.level}, ${node.idx}) is not the hash of the audit entries under it`);
  }

  // Per run, runSeq is 0..k-1 in seq order.
  const runSeqs = new Map<string, number>();
  for (const entry of entries) {
    if (entry.runId === undefined) continue;
    const expected = runSeqs.get(entry.runId) ?? 0;
    if (entry.runSeq !== expected) problem(`entry ${entry.seq} of run ${entry.runId} has runSeq ${entry.runSeq}, expected ${expected}`);
    runSeqs.set(entry.runId, expected + 1);
  }

  // 2. Every checkpoint, from every incarnation, verifies under the one key and commits to the
  //    root of the log's prefix; each was recorded with its `checkpoint.issued` entry.
  const trusted = trustedKeyFrom(trustedKey);
  const issued = new Set(entries.filter((entry) => entry.action === 'checkpoint.issued').map((entry) => Number(entry.data['treeSize'])));
  const anchoredEntries = new Set(
    entries.filter((entry) => entry.action === 'checkpoint.anchored' && entry.outcome === 'success').map((entry) => Number(entry.data['treeSize'])),
  );
  for (const row of checkpointRows) {
    try {
      const checkpoint = openCheckpoint(JSON.parse(row.envelope) as DsseEnvelope, [trusted]);
      if (checkpoint.treeSize !== row.treeSize) problem(`checkpoint row ${row.treeSize} holds a checkpoint of size ${checkpoint.treeSize}`);
      if (rootAt.get(row.treeSize) !== checkpoint.rootHash)
        problem(`checkpoint ${row.treeSize} signs root ${checkpoint.rootHash}, the log's prefix has ${rootAt.get(row.treeSize) ?? 'no such size'}`);
    } catch (error) {
      problem(`checkpoint ${row.treeSize} does not verify: ${String(error)}`);
    }
    if (!issued.has(row.treeSize)) problem(`checkpoint ${row.treeSize} is stored without its checkpoint.issued entry`);
    if ((row.anchored === 1) !== anchoredEntries.has(row.treeSize))
      problem(`checkpoint ${row.treeSize} is ${row.anchored ? '' : 'not '}anchored in its row, but the log says otherwise`);
  }
  for (const size of issued) if (!checkpointSizes.has(size)) problem(`checkpoint.issued for size ${size} has no stored checkpoint`);
  const last = checkpointRows.at(-1);
  const lastCheckpoint = last && (JSON.parse(last.envelope) as DsseEnvelope);
  if (lastCheckpoint) {
    const verification = verifyLog(entries, lastCheckpoint, [trustedKey]);
    if (!verification.valid) problem(`verifyLog against the last checkpoint: ${verification.detail}`);
  }

  // 3. Exactly-once: no item ends twice, no attempt is dispatched, started or completed twice.
  const itemEnds = new Map<string, string[]>();
  const attemptActions = new Map<string, string[]>();
  for (const entry of entries) {
    if (entry.entity.kind === 'item' && ['item.succeeded', 'item.failed', 'item.skipped', 'item.cancelled'].includes(entry.action)) {
      itemEnds.set(entry.entity.id, [...(itemEnds.get(entry.entity.id) ?? []), entry.action]);
    }
    if (entry.entity.kind === 'attempt') attemptActions.set(entry.entity.id, [...(attemptActions.get(entry.entity.id) ?? []), entry.action]);
  }
  for (const [item, ends] of itemEnds) if (ends.length > 1) problem(`item ${item} ended ${ends.length} times: ${ends.join(', ')}`);
  for (const [attempt, actions] of attemptActions) {
    const count = (action: string) => actions.filter((value) => value === action).length;
    if (count('attempt.dispatched') !== 1) problem(`attempt ${attempt} was dispatched ${count('attempt.dispatched')} times`);
    if (count('attempt.started') > 1) problem(`attempt ${attempt} was started ${count('attempt.started')} times`);
    if (count('attempt.completed') + count('attempt.lost') > 1)
      problem(`attempt ${attempt} completed ${count('attempt.completed') + count('attempt.lost')} times: ${actions.join(', ')}`);
    if (actions[0] !== 'attempt.dispatched') problem(`attempt ${attempt}'s first entry is ${actions[0]}`);
  }

  // 4. The state tables say what the log says (both are written by the same transactions).
  const runs = database
    .prepare<[], { runId: string; state: string; idempotencyKey: string | null; itemsTotal: number; itemsFinished: number }>(
      // The stored key is scoped to its submitter ("<submitter>\u001f<key>", migration 10): the key itself follows the separator.
      'SELECT run_id AS runId, state, substr(idempotency_key, instr(idempotency_key, char(31)) + 1) AS idempotencyKey, items_total AS itemsTotal, items_finished AS itemsFinished FROM runs',
    )
    .all();
  if (runs.length > 1) problem(`${runs.length} runs exist; every incarnation submits the same one`);
  const run = runs[0];
  if (run && run.idempotencyKey !== idempotencyKey) problem(`the run has idempotency key ${run.idempotencyKey}`);
  const submitted = entries.filter((entry) => entry.action === 'run.submitted');
  if (submitted.length !== runs.length) problem(`${submitted.length} run.submitted entries for ${runs.length} runs`);
  const items = database.prepare<[], { itemId: string; state: string }>('SELECT item_id AS itemId, state FROM items').all();
  const itemStates = countBy(items, (item) => item.state);
  for (const state of ['succeeded', 'failed', 'skipped', 'cancelled']) {
    const logged = entries.filter((entry) => entry.action === `item.${state}`).length;
    if ((itemStates[state] ?? 0) !== logged) problem(`${itemStates[state] ?? 0} items are ${state} in the table, ${logged} in the log`);
  }
  if (run) {
    const finished = items.filter((item) => ['succeeded', 'failed', 'skipped', 'cancelled'].includes(item.state)).length;
    if (run.itemsFinished !== finished) problem(`the run counts ${run.itemsFinished} finished items, the table has ${finished}`);
    const ended = entries.filter((entry) => ['run.succeeded', 'run.failed', 'run.cancelled'].includes(entry.action));
    if (ended.length > 1) problem(`the run ended ${ended.length} times`);
    if ((ended.length === 1) !== ['succeeded', 'failed', 'cancelled'].includes(run.state))
      problem(`the run is ${run.state} but the log has ${ended.length} end entries`);
  }
  const attempts = database
    .prepare<
      [],
      { executionId: string; state: string; attempt: number; itemId: string; fencingToken: number; manifestDigest: string; artifacts: string | null }
    >(
      'SELECT execution_id AS executionId, state, attempt, item_id AS itemId, fencing_token AS fencingToken, manifest_digest AS manifestDigest, artifacts FROM attempts ORDER BY item_id, attempt',
    )
    .all();
  const attemptStates = new Map(attempts.map((attempt) => [attempt.executionId, attempt.state]));
  for (const [executionId] of attemptActions)
    if (!attemptStates.has(executionId)) problem(`the log names attempt ${executionId}, the table has no such attempt`);
  const attemptNumbers = new Map<string, number>();
  for (const attempt of attempts) {
    const actions = attemptActions.get(attempt.executionId) ?? [];
    const started = actions.includes('attempt.started');
    const ended = actions.includes('attempt.completed') || actions.includes('attempt.lost');
    if (attempt.state === 'dispatching' && (started || ended)) problem(`attempt ${attempt.executionId} is dispatching but the log has ${actions.join(', ')}`);
    if (attempt.state === 'running' && (!started || ended)) problem(`attempt ${attempt.executionId} is running but the log has ${actions.join(', ')}`);
    if (!['dispatching', 'running'].includes(attempt.state) && !ended)
      problem(`attempt ${attempt.executionId} is ${attempt.state} but the log has ${actions.join(', ')}`);
    const expected = (attemptNumbers.get(attempt.itemId) ?? 0) + 1;
    if (attempt.attempt !== expected) problem(`item ${attempt.itemId} has attempt ${attempt.attempt} where ${expected} belongs`);
    attemptNumbers.set(attempt.itemId, attempt.attempt);
    // A completion recorded what the worker reported for this very attempt.
    if (attempt.state === 'succeeded' || attempt.state === 'failed') {
      const result = JSON.parse(readFileSync(join(directory, 'storage', resultKey(attempt.executionId)), 'utf8')) as {
        fencingToken: number;
        manifestDigest: string;
        artifacts: unknown;
      };
      if (result.fencingToken !== attempt.fencingToken || result.manifestDigest !== attempt.manifestDigest)
        problem(`attempt ${attempt.executionId} completed against another attempt's result`);
      if (canonicalJson(result.artifacts as JsonValue) !== canonicalJson(JSON.parse(attempt.artifacts ?? 'null') as JsonValue))
        problem(`attempt ${attempt.executionId} recorded artifacts that are not its result's`);
    }
  }
  const live = database.prepare<[], { count: number }>(`SELECT COUNT(*) AS count FROM lock_holders`).get()!.count;
  if (live !== 0) problem(`${live} locks are held, and no item declares one`);

  const itemState = (state: string) => itemStates[state] ?? 0;
  return {
    problems,
    entries,
    progress: {
      runId: run?.runId,
      runState: run?.state,
      items: itemStates,
      attempts: countBy(attempts, (attempt) => attempt.state),
      needNew: itemState('ready') + itemState('blocked'),
      auditEntries: rows.length,
      checkpoints: checkpointRows.length,
      lastCheckpoint,
      actions: countBy(entries, (entry) => entry.action),
      attemptStates,
    },
  };
}
