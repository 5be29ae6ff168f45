import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AuditLog } from '../../audit/audit-log.ts';
import { RunStateMachine } from '../../state/run-state-machine.ts';
import { migrations } from './migrations.ts';
import { openEngineDatabase } from './open-engine-database.ts';
import { dispatchOrderOf } from './dispatch-order.ts';
import { readyPageSql } from './ready-item-pages.ts';
import { WorkingCopy } from './working-copy.ts';

const ana = { kind: 'user' as const, id: 'ana', via: 'cli' as const };
const command = { kind: 'command' as const, argv: ['true'] };
const minute = 60_000;

describe('the dispatch order of ready items (items.dispatch_order)', () => {
  test('is the ready time moved an aging interval per level away from 3: one order for every time it is read', () => {
    const start = Date.parse('2026-03-01T09:00:00.000Z');
    expect(dispatchOrderOf(start, 3, 5 * minute)).toBe(start);
    expect(dispatchOrderOf(start, 5, 5 * minute)).toBe(start - 10 * minute);
    expect(dispatchOrderOf(start, 1, 5 * minute)).toBe(start + 10 * minute);
    // A priority-1 item ready 20 minutes before a priority-5 one ties with it (four levels, 5 minutes
    // a level); a millisecond earlier, it goes first.
    expect(dispatchOrderOf(start - 20 * minute, 1, 5 * minute)).toBe(dispatchOrderOf(start, 5, 5 * minute));
    expect(dispatchOrderOf(start - 20 * minute - 1, 1, 5 * minute)).toBeLessThan(dispatchOrderOf(start, 5, 5 * minute));
  });

  test('is set when an item becomes ready (at submit, released, retried), cleared while it is set aside, and read through its index', () => {
    const database = openEngineDatabase(':memory:');
    let now = Date.parse('2026-03-01T09:00:00.000Z');
    const workingCopy = new WorkingCopy(database, { priorityAgingMs: minute });
    const machine = new RunStateMachine(workingCopy, new AuditLog(workingCopy, { now: () => now }), { defaultExecutor: 'local', now: () => now });
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'order',
        priority: 2,
        items: [
          { id: 'gate', runtime: command, priority: 4 },
          { id: 'after', runtime: command, dependsOn: ['gate'] },
        ],
      },
      { actor: ana },
    );
    const orderOf = (itemId: string) =>
      database
        .prepare<[string, string], { order: number | null }>('SELECT dispatch_order AS "order" FROM items WHERE run_id = ? AND item_id = ?')
        .get(runId, itemId)!.order;
    const submittedAt = now;
    expect([orderOf('gate'), orderOf('after')]).toEqual([submittedAt - minute, null]);
    // Released by its prerequisite 10 s later, at its own priority (the run's, 2).
    now += 10_000;
    machine.startItem(runId, 'gate');
    machine.finishItem(runId, 'gate', 'succeeded', ana, {}, {});
    expect(orderOf('after')).toBe(now + minute);
    // Set aside (a run awaiting its budget), it leaves the order; back, it is placed from then.
    workingCopy.runs.parkReady(runId, 'after');
    expect(orderOf('after')).toBe(null);
    now += 5_000;
    workingCopy.runs.unparkReady(runId, new Date(now).toISOString());
    expect(orderOf('after')).toBe(now + minute);
    // Retried after a backoff: placed from when it is due.
    machine.startItem(runId, 'after');
    machine.retryItem(runId, 'after', now + 30_000);
    expect(orderOf('after')).toBe(now + 30_000 + minute);
    expect(machine.run(runId)?.priority).toBe(2);
    expect(machine.items(runId).map((item) => item.priority)).toEqual([4, 2]);

    // The dispatcher's reads walk the partial index in its order: no scan of the items, no sort.
    for (const page of ['first', 'after'] as const) {
      const plan = (database.prepare(`EXPLAIN QUERY PLAN ${readyPageSql('20', page)}`).all(...(page === 'first' ? [''] : ['', 0, 0])) as { detail: string }[])
        .map((row) => row.detail)
        .join('; ');
      expect(plan).toMatch(/SEARCH items USING INDEX items_dispatch_order/);
      expect(plan).not.toMatch(/SCAN items\b|TEMP B-TREE/);
    }
    database.close();
  });

  test('migration 16 places the items ready before it at their ready time, at priority 3', () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-dispatch-order-'));
    try {
      const path = join(directory, 'engine.db');
      const before = openEngineDatabase(
        path,
        migrations.filter((migration) => migration.version < 16),
      );
      before.exec(
        `INSERT INTO runs (run_id, name, state, spec_digest, submitted_by, submitted_at, items_total) VALUES ('r', 'old', 'queued', 'sha256:x', 'ana', '2026-03-01T09:00:00.000Z', 2)`,
      );
      before.exec(`INSERT INTO items (run_id, item_id, position, state, waiting_on, approval_required, ready_at) VALUES
        ('r', 'ready', 0, 'ready', 0, 0, '2026-03-01T09:00:00.123Z'), ('r', 'blocked', 1, 'blocked', 1, 0, NULL)`);
      before.close();
      const after = openEngineDatabase(path);
      expect(after.prepare('SELECT item_id AS itemId, priority, dispatch_order AS dispatchOrder FROM items ORDER BY position').all()).toEqual([
        { itemId: 'ready', priority: 3, dispatchOrder: Date.parse('2026-03-01T09:00:00.123Z') },
        { itemId: 'blocked', priority: 3, dispatchOrder: null },
      ]);
      expect(after.prepare('SELECT priority FROM runs').pluck().get()).toBe(3);
      after.close();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
