import type { RunState } from '@cairn/core';
import { describe, expect, test } from 'vitest';
import { ana, engineHarness } from '../../engine.test-support.ts';
import Database from 'better-sqlite3';
import { runListConditions, runListQuery } from '../shared/run-list-query.ts';
import type { RunListOptions, RunSummary } from '../../records/run-page.ts';

const harness = engineHarness();
const { engineWith } = harness;
const command = (...argv: string[]) => ({ kind: 'command' as const, argv });
const newestFirst = (a: RunSummary, b: RunSummary) => (a.submittedAt === b.submittedAt ? (a.runId < b.runId ? 1 : -1) : a.submittedAt < b.submittedAt ? 1 : -1);

describe('the run history', () => {
  test('pages newest first: every run exactly once across pages, none missed, and a run submitted meanwhile never shifts a page', async () => {
    const { engine } = await engineWith();
    // Submitted in a tight loop, several share a millisecond: the run id breaks the tie.
    const submitted = Array.from(
      { length: 11 },
      (_, index) => engine.submit({ version: 1, name: `run ${index}`, items: [{ id: 'a', runtime: command('true') }] }, { actor: ana }).runId,
    );
    const seen: RunSummary[] = [];
    let page = engine.runs({ limit: 4 });
    seen.push(...page.runs);
    const late = engine.submit({ version: 1, name: 'late', items: [{ id: 'a', runtime: command('true') }] }, { actor: ana }).runId;
    let pages = 1;
    while (page.nextCursor !== undefined) {
      page = engine.runs({ limit: 4, cursor: page.nextCursor });
      seen.push(...page.runs);
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen.map((run) => run.runId).sort()).toEqual([...submitted].sort());
    expect(seen).toEqual([...seen].sort(newestFirst));
    expect(seen.map((run) => run.runId)).not.toContain(late);
    expect(engine.runs({ limit: 1 }).runs[0]!.runId).toBe(late);
    expect(engine.runs({ limit: 500 }).nextCursor).toBeUndefined();
    // The page starts at the last millisecond, which holds run 10 (and any run that shared it).
    expect(seen.filter((run) => run.submittedAt === seen[0]!.submittedAt).map((run) => run.name)).toContain('run 10');
    expect(seen[0]).toMatchObject({ state: 'queued', submittedBy: 'ana', itemsTotal: 1, itemsSucceeded: 0, itemsReused: 0, finishedAt: null });
  });

  test('filters by state and counts the items that succeeded and those that reused a pure result', async () => {
    const { engine } = await engineWith();
    engine.start();
    const pure = (name: string) => ({
      version: 1,
      name,
      items: [
        { id: 'build', effect: 'pure', runtime: command('true', 'x') },
        { id: 'after', dependsOn: ['build'], runtime: command('true') },
      ],
    });
    const first = engine.submit(pure('first'), { actor: ana }).runId;
    await engine.waitForRun(first);
    const second = engine.submit(pure('second'), { actor: ana }).runId;
    const failing = engine.submit(
      {
        version: 1,
        name: 'failing',
        items: [
          { id: 'bad', runtime: command('exit', '3') },
          { id: 'skipped', dependsOn: ['bad'], runtime: command('true') },
        ],
      },
      { actor: ana },
    ).runId;
    await Promise.all([engine.waitForRun(second), engine.waitForRun(failing)]);
    const byState = (state: RunState) => engine.runs({ state }).runs.map((run) => run.runId);
    expect(byState('succeeded').sort()).toEqual([first, second].sort());
    expect(byState('failed')).toEqual([failing]);
    expect(byState('queued')).toEqual([]);
    const runs = Object.fromEntries(engine.runs().runs.map((run) => [run.runId, run]));
    expect(runs[first]).toMatchObject({ itemsSucceeded: 2, itemsReused: 0, itemsFailed: 0 });
    expect(runs[second]).toMatchObject({ itemsSucceeded: 2, itemsReused: 1 });
    expect(runs[failing]).toMatchObject({ state: 'failed', itemsSucceeded: 0, itemsFailed: 1, itemsFinished: 2, finishedAt: expect.any(String) });
    // Paging within a state walks that state's runs only.
    const firstPage = engine.runs({ state: 'succeeded', limit: 1 });
    const secondPage = engine.runs({ state: 'succeeded', limit: 1, cursor: firstPage.nextCursor! });
    expect([...firstPage.runs, ...secondPage.runs].map((run) => run.runId).sort()).toEqual([first, second].sort());
    expect(secondPage.nextCursor).toBeUndefined();
  });

  test('refuses a limit out of range and a cursor it did not give out, naming the option', async () => {
    const { engine } = await engineWith();
    expect(() => engine.runs({ limit: 0 })).toThrow(expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: 'limit' }));
    expect(() => engine.runs({ limit: 501 })).toThrow(expect.objectContaining({ path: 'limit' }));
    expect(() => engine.runs({ cursor: 'not-a-cursor' })).toThrow(expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: 'cursor' }));
    expect(() => engine.runs({ cursor: Buffer.from('["yesterday","r-1"]').toString('base64url') })).toThrow(expect.objectContaining({ path: 'cursor' }));
    // A cursor given out before filters existed ([submittedAt, runId]) carries none, and is still taken, with any.
    const legacy = Buffer.from('["2026-01-01T00:00:00.000Z","r-1"]').toString('base64url');
    expect(engine.runs({ cursor: legacy, name: 'any' })).toEqual({ runs: [] });
    // One of this engine's cursors is refused with filters other than its own, naming cursor.
    for (const name of ['a', 'a', 'b']) engine.submit({ version: 1, name, items: [{ id: 'a', runtime: command('true') }] }, { actor: ana });
    const { nextCursor } = engine.runs({ name: 'a', limit: 1 });
    expect(engine.runs({ name: 'a', limit: 1, cursor: nextCursor! }).runs).toHaveLength(1);
    expect(() => engine.runs({ name: 'b', cursor: nextCursor! })).toThrow(expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: 'cursor' }));
    expect(() => engine.runs({ name: 'a', state: 'queued', cursor: nextCursor! })).toThrow(expect.objectContaining({ path: 'cursor' }));
  });

  test('each filter walks an index in order: no scan of every run, no sort', async () => {
    const { databasePath, engineWith: withPath } = harness;
    const path = databasePath();
    (await withPath({ path })).engine.submit({ version: 1, name: 'one', items: [{ id: 'a', runtime: command('true') }] }, { actor: ana });
    const database = new Database(path, { readonly: true });
    try {
      const plan = (options: RunListOptions) => {
        let count = 0;
        const { conditions, parameters } = runListConditions(runListQuery(options), () => `@p${count++}`);
        const sql = `SELECT * FROM runs ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''} ORDER BY submitted_at DESC, run_id DESC LIMIT 51`;
        const bound = Object.fromEntries(Object.entries(parameters).map(([key, value]) => [key.slice(1), value]));
        return (database.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(bound) as { detail: string }[]).map((row) => row.detail).join('; ');
      };
      expect(plan({ name: 'one' })).toContain('USING INDEX runs_by_name_newest');
      expect(plan({ submitter: 'ana' })).toContain('USING INDEX runs_by_submitter_newest');
      expect(plan({ submittedAfter: '2026-01-01T00:00:00Z', submittedBefore: '2026-02-01T00:00:00Z' })).toMatch(
        /USING (COVERING )?INDEX runs_newest \(submitted_at>\? AND submitted_at<\?\)/,
      );
      expect(plan({ state: 'queued' })).toContain('USING INDEX runs_by_state_newest');
      for (const options of [
        { name: 'one' },
        { submitter: 'ana' },
        { submittedAfter: '2026-01-01T00:00:00Z' },
        { name: 'one', submitter: 'ana', state: 'queued' as const },
      ])
        expect(plan(options)).not.toMatch(/SCAN runs\b(?! USING)|TEMP B-TREE/);
    } finally {
      database.close();
    }
  });
});
