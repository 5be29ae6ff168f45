import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '@cairn/core';
import { auditEntryBytes, buildEvidenceBundle, keyIdOf, MerkleLog, signCheckpoint, verifyBundle, verifyLog } from '@cairn/audit';
import { createInMemorySigner } from '@cairn/conformance/mocks';
import { digestOfJson, isCairnError } from '@cairn/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { migrations } from '../store/sqlite/migrations.ts';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { runEntriesAfterSql, runEntriesOfActionsAfterSql } from '../store/sqlite/audit-entry-table.ts';
import { WorkingCopy } from '../store/sqlite/working-copy.ts';
import { AuditLog, type AuditEntryDraft } from './audit-log.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function databasePath(): string {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-engine-'));
  directories.push(directory);
  return join(directory, 'engine.db');
}

const actor = { kind: 'system', id: 'engine', via: 'engine' } as const;
const clock = () => Date.UTC(2026, 10, 22, 10);
const draft = (runId: string | undefined, action: AuditEntryDraft['action'], data: AuditEntryDraft['data'] = {}): AuditEntryDraft => ({
  actor,
  action,
  entity: { kind: runId ? 'run' : 'server', id: runId ?? 'server' },
  outcome: 'success',
  data,
  ...(runId ? { runId } : {}),
});

/** The tree of the log's entries as stored, built in memory. */
function referenceOf(log: AuditLog): MerkleLog {
  const reference = MerkleLog.open();
  for (const entry of log.entries()) reference.append(auditEntryBytes(entry));
  return reference;
}

describe('AuditLog in SQLite', () => {
  test('numbers entries globally and per run, and hashes them into the same tree as in memory', () => {
    const database = openEngineDatabase(databasePath());
    const log = new AuditLog(new WorkingCopy(database), { now: clock });
    const written = [
      log.append(draft(undefined, 'server.started')),
      log.append(draft('r1', 'run.submitted')),
      log.append(draft('r2', 'run.submitted')),
      log.append(draft('r1', 'run.started')),
      log.append(draft('r1', 'run.succeeded')),
    ];
    expect(written.map((entry) => [entry.seq, entry.runId, entry.runSeq])).toEqual([
      [0, undefined, undefined],
      [1, 'r1', 0],
      [2, 'r2', 0],
      [3, 'r1', 1],
      [4, 'r1', 2],
    ]);
    const reference = MerkleLog.open();
    for (const entry of written) reference.append(auditEntryBytes(entry));
    expect(log.merkle.rootHash()).toEqual(reference.rootHash());
    expect(log.runEntries('r1').map((entry) => entry.action)).toEqual(['run.submitted', 'run.started', 'run.succeeded']);
    expect([...log.entries(0, 2)]).toEqual(written);
    database.close();
  });

  test('a rolled-back transaction leaves neither entries nor tree nodes behind', () => {
    const database = openEngineDatabase(databasePath());
    const log = new AuditLog(new WorkingCopy(database), { now: clock });
    log.append(draft('r1', 'run.submitted'));
    const root = log.merkle.rootHash();
    expect(() =>
      database.transaction(() => {
        log.append(draft('r1', 'run.started'));
        log.append(draft('r1', 'run.failed'));
        throw new Error('the state change failed');
      })(),
    ).toThrow('the state change failed');
    expect(log.size).toBe(1);
    expect(log.merkle.rootHash()).toEqual(root);
    expect(log.append(draft('r1', 'run.started')).runSeq).toBe(1);
    database.close();
  });

  test('inside a transaction, entries and nodes are written at its end, and every read of the log sees them before', () => {
    const database = openEngineDatabase(databasePath());
    const log = new AuditLog(new WorkingCopy(database), { now: clock });
    log.append(draft('r1', 'run.submitted'));
    const rows = database.prepare<[], { rows: number }>('SELECT (SELECT COUNT(*) FROM audit_entries) + (SELECT COUNT(*) FROM merkle_nodes) AS rows');
    database.transaction(() => {
      log.append(draft('r1', 'run.started'));
      log.append(draft('r1', 'run.succeeded'));
      // Held in memory so far (one statement at the end writes them all) ...
      expect(rows.get()!.rows).toBe(1);
      // ... but the log's own reads write them first. Three entries and no nodes: the leaves are
      // the entries, and nodes of levels 1 to 3 are not stored either.
      expect(log.runEntries('r1').map((entry) => entry.action)).toEqual(['run.submitted', 'run.started', 'run.succeeded']);
      expect(rows.get()!.rows).toBe(3);
      log.append(draft('r1', 'item.ready'));
      expect(log.merkle.inclusionProof(1, 4)).toEqual(referenceOf(log).inclusionProof(1, 4));
    })();
    expect(rows.get()!.rows).toBe(4);
    const reopened = openEngineDatabase(database.name);
    const again = new AuditLog(new WorkingCopy(reopened));
    expect(again.size).toBe(4);
    expect(again.merkle.rootHash()).toEqual(referenceOf(log).rootHash());
    reopened.close();
    database.close();
  });

  test('a large transaction writes its entries as it goes, not all at its end, and a rollback still drops them and their nodes', () => {
    const database = openEngineDatabase(databasePath());
    const log = new AuditLog(new WorkingCopy(database), { now: clock });
    const count = (table: string) => database.prepare<[], { rows: number }>(`SELECT COUNT(*) AS rows FROM ${table}`).get()!.rows;
    let seen = 0;
    database.transaction(() => {
      for (let index = 0; index < 10_000; index++) log.append(draft('r1', 'item.ready', { index }));
      // Held in memory: at most 4,096 entries, so most are written by now.
      seen = count('audit_entries');
    })();
    expect(seen).toBeGreaterThanOrEqual(10_000 - 4_096);
    expect(count('audit_entries')).toBe(10_000);
    // The nodes of levels 4, 8 and 12 over 10,000 leaves: 625 + 39 + 2.
    expect(count('merkle_nodes')).toBe(666);
    expect(log.merkle.rootHash()).toEqual(referenceOf(log).rootHash());
    // Written early, yet in the transaction: a rollback leaves none of them.
    expect(() =>
      database.transaction(() => {
        for (let index = 0; index < 5_000; index++) log.append(draft('r2', 'item.ready', { index }));
        throw new Error('rolled back');
      })(),
    ).toThrow('rolled back');
    expect(count('audit_entries')).toBe(10_000);
    expect(count('merkle_nodes')).toBe(666);
    expect(log.size).toBe(10_000);
    expect(log.merkle.rootHash()).toEqual(referenceOf(log).rootHash());
    log.append(draft('r2', 'run.submitted'));
    expect(log.runEntries('r2').map((entry) => entry.runSeq)).toEqual([0]);
    database.close();
  });

  test('a savepoint rolled back drops only its own entries: the enclosing transaction keeps its own, gapless', () => {
    const database = openEngineDatabase(databasePath());
    const log = new AuditLog(new WorkingCopy(database), { now: clock });
    log.append(draft('r1', 'run.submitted'));
    database.transaction(() => {
      log.append(draft('r1', 'run.started'));
      expect(() =>
        database.transaction(() => {
          log.append(draft('r1', 'item.ready'));
          log.append(draft('r1', 'item.failed'));
          throw new Error('the nested change failed');
        })(),
      ).toThrow('the nested change failed');
      log.append(draft('r1', 'run.succeeded'));
    })();
    const entries = log.runEntries('r1');
    expect(entries.map((entry) => [entry.seq, entry.runSeq, entry.action])).toEqual([
      [0, 0, 'run.submitted'],
      [1, 1, 'run.started'],
      [2, 2, 'run.succeeded'],
    ]);
    expect(log.merkle.rootHash()).toEqual(referenceOf(log).rootHash());
    database.close();
  });

  test('two logs over one handle in one transaction number a run gaplessly', () => {
    const database = openEngineDatabase(databasePath());
    const first = new AuditLog(new WorkingCopy(database), { now: clock });
    const second = new AuditLog(new WorkingCopy(database), { now: clock });
    database.transaction(() => {
      first.append(draft('r1', 'run.submitted'));
      second.append(draft('r1', 'run.started'));
      first.append(draft('r1', 'run.succeeded'));
    })();
    expect(first.runEntries('r1').map((entry) => entry.runSeq)).toEqual([0, 1, 2]);
    database.close();
  });

  test('per-run numbering stays gapless when another writer appends to the same database in between', () => {
    const database = openEngineDatabase(databasePath());
    const first = new AuditLog(new WorkingCopy(database), { now: clock });
    const second = new AuditLog(new WorkingCopy(database), { now: clock });
    first.append(draft('r1', 'run.submitted'));
    second.append(draft('r1', 'run.started'));
    expect(first.append(draft('r1', 'run.succeeded')).runSeq).toBe(2);
    expect(first.runEntries('r1').map((entry) => entry.runSeq)).toEqual([0, 1, 2]);
    database.close();
  });

  test('an invalid entry is refused and nothing is written', () => {
    const database = openEngineDatabase(databasePath());
    const log = new AuditLog(new WorkingCopy(database), { now: clock });
    try {
      log.append({ ...draft('r1', 'run.submitted'), action: 'run.exploded' as AuditEntry['action'] });
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
    }
    expect(log.size).toBe(0);
    database.close();
  });

  test("a run's entries after a global position: the right ones from any cursor, found through the run's index without rereading the run", () => {
    const database = openEngineDatabase(databasePath());
    const log = new AuditLog(new WorkingCopy(database), { now: clock });
    // Two runs interleaved with server entries: seq 0 server, then run-a, run-b, run-a, ... .
    log.append(draft(undefined, 'server.started'));
    for (let index = 0; index < 20; index++) {
      log.append(draft('run-a', 'run.submitted'));
      log.append(draft('run-b', 'run.submitted'));
      if (index % 5 === 0) log.append(draft(undefined, 'server.started'));
    }
    const all = [...log.query({})];
    for (const runId of ['run-a', 'run-b']) {
      for (let cursor = -1; cursor <= all.length; cursor++) {
        const expected = all.filter((entry) => entry.runId === runId && entry.seq > cursor);
        expect(log.runEntriesAfter(runId, cursor, 1000)).toEqual(expected);
        expect(log.runEntriesAfter(runId, cursor, 3)).toEqual(expected.slice(0, 3));
      }
    }
    expect(log.runEntriesAfter('run-c', -1, 10)).toEqual([]);
    // Bounded by the run's index on both sides: no scan of the run's entries before the cursor.
    const plan = database
      .prepare(`EXPLAIN QUERY PLAN ${runEntriesAfterSql}`)
      .all('run-a', 10, 'run-a', 10, 5)
      .map((row) => (row as { detail: string }).detail);
    expect(plan[0]).toContain('run_id=? AND run_seq>?');
    expect(plan.join('\n')).not.toContain('TEMP B-TREE');
  });

  test("reads of some actions only: a run's and the log's, the same entries as reading all and filtering, from any cursor, through the run's index", () => {
    const database = openEngineDatabase(databasePath());
    const log = new AuditLog(new WorkingCopy(database), { now: clock });
    const actions = ['run.submitted', 'run.started', 'run.succeeded', 'item.ready', 'item.succeeded'] as const;
    log.append(draft(undefined, 'server.started'));
    for (let index = 0; index < 30; index++) {
      log.append(draft('run-a', actions[index % actions.length]!));
      log.append(draft('run-b', actions[(index + 2) % actions.length]!));
      if (index % 7 === 0) log.append(draft(undefined, 'server.started'));
    }
    const all = [...log.query({})];
    for (const kept of [['run.started'], ['run.submitted', 'run.succeeded', 'server.started'], ['item.failed'], []]) {
      for (let cursor = -1; cursor <= all.length; cursor++) {
        const ofLog = all.filter((entry) => kept.includes(entry.action) && entry.seq >= cursor);
        expect(log.page(cursor, 1000, kept)).toEqual(ofLog);
        expect(log.page(cursor, 2, kept)).toEqual(ofLog.slice(0, 2));
        for (const runId of ['run-a', 'run-b']) {
          const ofRun = all.filter((entry) => entry.runId === runId && kept.includes(entry.action) && entry.seq > cursor);
          expect(log.runEntriesAfter(runId, cursor, 1000, kept)).toEqual(ofRun);
          expect(log.runEntriesAfter(runId, cursor, 2, kept)).toEqual(ofRun.slice(0, 2));
        }
      }
    }
    // Without actions, every entry as before.
    expect(log.page(0, 1000)).toEqual(all);
    const plan = database
      .prepare(`EXPLAIN QUERY PLAN ${runEntriesOfActionsAfterSql}`)
      .all('run-a', 10, '["run.started"]', 'run-a', 10, 5)
      .map((row) => (row as { detail: string }).detail);
    expect(plan[0]).toContain('run_id=? AND run_seq>?');
    expect(plan.join('\n')).not.toContain('TEMP B-TREE');
    database.close();
  });

  test('reopened from its file, the log continues, verifies against a checkpoint, and exports a verifiable bundle', async () => {
    const path = databasePath();
    const first = openEngineDatabase(path);
    const spec = { version: 1 as const, name: 'r1', items: [{ id: 'a', runtime: { kind: 'command' as const, argv: ['true'] } }] };
    new AuditLog(new WorkingCopy(first), { now: clock }).append(draft('r1', 'run.submitted', { specDigest: digestOfJson(spec) }));
    first.close();
    const database = openEngineDatabase(path);
    const log = new AuditLog(new WorkingCopy(database), { now: clock });
    log.append(draft('r0', 'run.submitted'));
    log.append(draft('r1', 'run.started'));
    // The spec's one item ended (completeness asks every item of the run's graph to have).
    log.append({ ...draft('r1', 'item.succeeded'), entity: { kind: 'item', id: 'r1/a' } });
    log.append(draft('r1', 'run.succeeded'));
    const signer = createInMemorySigner();
    const publicKey = await signer.publicKey();
    const key = { keyId: keyIdOf(publicKey), algorithm: signer.algorithm, publicKey: Buffer.from(publicKey).toString('base64') };
    const checkpoint = await signCheckpoint(
      { origin: 'cairn:test', treeSize: log.size, rootHash: Buffer.from(log.merkle.rootHash()).toString('hex'), time: '2026-11-22T10:00:00.000Z' },
      signer,
    );
    expect(verifyLog(log.entries(), checkpoint, [key])).toMatchObject({ valid: true });
    const bundle = buildEvidenceBundle({
      runId: 'r1',
      spec,
      entries: log.runEntries('r1'),
      proofs: log.merkle,
      checkpoint,
      anchors: [],
      keys: [key],
      manifests: [],
    });
    const report = await verifyBundle(bundle, { trustedKeys: [key] });
    expect(report.checks.filter((check) => check.status === 'fail')).toEqual([]);
    database.close();
  });
});

describe('openEngineDatabase', () => {
  test('uses WAL, enforces foreign keys, records the schema version, and refuses a newer schema', () => {
    const path = databasePath();
    const database = openEngineDatabase(path);
    expect(database.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(database.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(database.pragma('user_version', { simple: true })).toBe(migrations.at(-1)!.version);
    database.pragma('user_version = 99');
    database.close();
    expect(() => openEngineDatabase(path)).toThrow(/schema version 99, newer than this engine knows/);
  });

  test('a migration that fails leaves the previous schema', () => {
    const path = databasePath();
    openEngineDatabase(path).close();
    const latest = migrations.at(-1)!.version;
    const broken = [...migrations, { version: latest + 1, name: 'broken', sql: 'CREATE TABLE extra (x INTEGER); SELEKT nonsense;' }];
    expect(() => openEngineDatabase(path, broken)).toThrow(new RegExp(`Migration ${latest + 1} \\(broken\\) of .* failed: .*keeps schema version ${latest}`));
    const database = openEngineDatabase(path);
    expect(database.pragma('user_version', { simple: true })).toBe(latest);
    expect(database.prepare("SELECT name FROM sqlite_master WHERE name = 'extra'").get()).toBeUndefined();
    database.close();
  });
});
