import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditActor, AuditEntry } from '@cairn/core';
import { auditLeafHash } from '@cairn/audit';
import { afterEach, describe, expect, test } from 'vitest';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { openEngineDatabase } from './open-engine-database.ts';
import { AuditLog, type AuditEntryDraft } from '../../audit/audit-log.ts';
import { WorkingCopy } from './working-copy.ts';

const directories: string[] = [];
const databases: EngineDatabase[] = [];
afterEach(() => {
  for (const database of databases.splice(0)) database.close();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const engine: AuditActor = { kind: 'system', id: 'engine', via: 'engine' };
const ana: AuditActor = { kind: 'user', id: 'ana', via: 'http' };
const start = Date.UTC(2026, 10, 22, 10);

/** A log of `count` entries one second apart: runs r0..r4 in turn, every third by ana, every fifth a reuse. */
function filledLog(count: number): { log: AuditLog; database: EngineDatabase; written: AuditEntry[] } {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-audit-query-'));
  directories.push(directory);
  const database = openEngineDatabase(join(directory, 'engine.db'));
  databases.push(database);
  let tick = 0;
  const log = new AuditLog(new WorkingCopy(database), { now: () => start + 1_000 * tick++ });
  const written: AuditEntry[] = [];
  database.transaction(() => {
    for (let index = 0; index < count; index++) {
      const runId = `r${index % 5}`;
      const draft: AuditEntryDraft = {
        actor: index % 3 === 0 ? ana : engine,
        action: index % 5 === 4 ? 'item.reused' : 'item.ready',
        entity: { kind: 'item', id: `${runId}/a` },
        outcome: 'success',
        data: { index },
        runId,
      };
      written.push(log.append(draft));
    }
  })();
  return { log, database, written };
}

const time = (seconds: number) => new Date(start + seconds * 1_000).toISOString();

describe('AuditLog.query', () => {
  test('streams a seq range in order, gapless, across many pages, with the stored leaves', () => {
    const { log, written } = filledLog(5_000);
    const all = [...log.query()];
    expect(all).toEqual(written);
    const range = [...log.query({ from: 1_234, to: 4_321 })];
    expect(range.map((entry) => entry.seq)).toEqual(Array.from({ length: 4_321 - 1_234 }, (_, index) => 1_234 + index));
    for (const entry of range.slice(0, 50)) expect(auditLeafHash(entry)).toEqual(log.merkle.leafHash(entry.seq));
    expect([...log.query({ from: 4_990, to: 99_999 })]).toHaveLength(10);
    expect([...log.query({ from: 10, to: 10 })]).toEqual([]);
  });

  test('filters by run, action, actor and time, alone and together, as a scan of every entry would', () => {
    const { log, written } = filledLog(3_000);
    const cases = [
      { query: { runId: 'r2' }, keep: (entry: AuditEntry) => entry.runId === 'r2' },
      { query: { action: 'item.reused' }, keep: (entry: AuditEntry) => entry.action === 'item.reused' },
      { query: { actorId: 'ana' }, keep: (entry: AuditEntry) => entry.actor.id === 'ana' },
      { query: { since: time(100), until: time(2_600) }, keep: (entry: AuditEntry) => entry.seq >= 100 && entry.seq < 2_600 },
      // Any ISO precision and offset: 10:00:05+01:00 is 09:00:05Z, before every entry.
      { query: { since: '2026-11-22T10:00:05.000+01:00' }, keep: () => true },
      {
        query: { runId: 'r4', action: 'item.reused', actorId: 'ana', from: 500, to: 2_800, since: time(600) },
        keep: (entry: AuditEntry) =>
          entry.runId === 'r4' && entry.action === 'item.reused' && entry.actor.id === 'ana' && entry.seq >= 600 && entry.seq < 2_800,
      },
      { query: { runId: 'r1', from: 2_000 }, keep: (entry: AuditEntry) => entry.runId === 'r1' && entry.seq >= 2_000 },
      { query: { runId: 'nobody' }, keep: () => false },
    ];
    for (const { query, keep } of cases) expect([...log.query(query)], JSON.stringify(query)).toEqual(written.filter(keep));
    expect(written.filter((entry) => entry.runId === 'r4' && entry.action === 'item.reused' && entry.actor.id === 'ana').length).toBeGreaterThan(10);
  });

  test("a run's model calls and budget raises are read through their own indexes, not through the run's other entries", () => {
    const { log, database, written } = filledLog(3_000);
    const extra = database.transaction(() =>
      (['model.called', 'run.budget-raised', 'model.called'] as const).map((action, index) =>
        log.append({ actor: engine, action, entity: { kind: 'run', id: 'r1' }, outcome: 'success', data: { index }, runId: 'r1' }),
      ),
    )();
    // The statements the reads prepare, and how SQLite plans each.
    const prepared: string[] = [];
    const prepare = database.prepare.bind(database);
    database.prepare = ((sql: string) => (prepared.push(sql), prepare(sql))) as typeof database.prepare;
    expect([...log.query({ runId: 'r1', action: 'model.called' })]).toEqual([extra[0], extra[2]]);
    expect([...log.query({ runId: 'r1', action: 'run.budget-raised' })]).toEqual([extra[1]]);
    expect([...log.query({ runId: 'r2', action: 'model.called' })]).toEqual([]);
    expect([...log.query({ runId: 'r4', action: 'item.reused' })]).toEqual(written.filter((entry) => entry.runId === 'r4' && entry.action === 'item.reused'));
    const plans = prepared.map((sql) =>
      (prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ from: 0, to: 1, runId: 'r1', action: 'x', limit: 1 }) as { detail: string }[])
        .map((row) => row.detail)
        .join('; '),
    );
    expect(plans).toEqual([
      expect.stringContaining('USING INDEX audit_entries_model_calls (run_id=?)'),
      expect.stringContaining('USING INDEX audit_entries_budget_raises (run_id=?)'),
      // Any other action of a run: the run's own index.
      expect.stringContaining('USING INDEX audit_entries_by_run (run_id=?)'),
    ]);
  });

  test('ends at the size it started with while entries are appended, and the engine can write during the read', () => {
    const { log, written } = filledLog(2_500);
    const reader = log.query();
    const seen: AuditEntry[] = [];
    for (const entry of reader) {
      seen.push(entry);
      // An append between pages (no statement may stay open across yields).
      if (entry.seq % 1_000 === 0)
        log.append({ actor: engine, action: 'server.started', entity: { kind: 'server', id: 'server' }, outcome: 'success', data: {} });
    }
    expect(seen).toEqual(written);
    expect(log.size).toBe(2_503);
  });

  test('refuses a bad range or time at once, naming the field', () => {
    const { log } = filledLog(3);
    expect(() => log.query({ from: -1 })).toThrow(expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: 'from' }));
    expect(() => log.query({ to: 1.5 })).toThrow(expect.objectContaining({ path: 'to' }));
    expect(() => log.query({ since: 'last tuesday' })).toThrow(expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: 'since' }));
    expect(() => log.query({ until: '' })).toThrow(expect.objectContaining({ path: 'until' }));
  });
});
