import type { AuditActor } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../audit/audit-log.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { openEngineDatabase } from '../sqlite/open-engine-database.ts';
import { RunStateMachine } from '../../state/run-state-machine.ts';
import { captureChanges, engineTables } from '../change-capture.ts';
import { createPostgresStateStore } from './postgres-state-store.ts';
import type { PostgresWriter } from './postgres-writer.ts';
import { createTestDatabase, workingCopyContents, type TestDatabase } from './postgres.test-support.ts';
import { WorkingCopy } from '../sqlite/working-copy.ts';

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };

/** One step of a random session on a working copy: `pick` chooses among what exists when it runs. */
type Operation =
  | { readonly kind: 'submit'; readonly items: number; readonly edges: readonly number[]; readonly gated: readonly boolean[] }
  | { readonly kind: 'start' | 'succeed' | 'fail' | 'cancel-item' | 'cancel-run' | 'approve' | 'reject' | 'lock' | 'unlock'; readonly pick: number }
  | { readonly kind: 'secret-set' | 'secret-remove'; readonly name: number }
  | { readonly kind: 'commit' };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('submit' as const),
      items: fc.integer({ min: 1, max: 5 }),
      edges: fc.array(fc.nat(), { maxLength: 6 }),
      gated: fc.array(fc.boolean(), { maxLength: 5 }),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      // Starting and succeeding are drawn more often, so that runs move and end.
      kind: fc.constantFrom(
        ...([
          'start',
          'start',
          'start',
          'succeed',
          'succeed',
          'fail',
          'cancel-item',
          'cancel-run',
          'approve',
          'reject',
          'lock',
          'lock',
          'unlock',
          'unlock',
        ] as const),
      ),
      pick: fc.nat(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('secret-set' as const, 'secret-remove' as const), name: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'commit' as const }) },
);

function pickOf<T>(list: readonly T[], pick: number): T | undefined {
  return list.length === 0 ? undefined : list[pick % list.length];
}

/** Applies one operation; a transition the lifecycle refuses is part of the game (its transaction rolls back). */
function apply(copy: EngineDatabase, machine: RunStateMachine, step: Exclude<Operation, { kind: 'commit' }>, counter: { runs: number }): void {
  const items = (state: string) =>
    copy.prepare<[string], { run_id: string; item_id: string }>('SELECT run_id, item_id FROM items WHERE state = ? ORDER BY run_id, item_id').all(state);
  const anyItem = () => copy.prepare<[], { run_id: string; item_id: string }>('SELECT run_id, item_id FROM items ORDER BY run_id, item_id').all();
  try {
    switch (step.kind) {
      case 'submit': {
        const ids = Array.from({ length: step.items }, (_, index) => `item-${index}`);
        const dependsOn = (index: number) => [...new Set(step.edges.filter((edge) => edge % step.items < index).map((edge) => ids[edge % step.items]!))];
        machine.submit(
          {
            version: 1,
            name: `run-${counter.runs++}`,
            items: ids.map((id, index) => ({
              id,
              runtime: { kind: 'command', argv: ['true'] },
              ...(dependsOn(index).length > 0 ? { dependsOn: dependsOn(index) } : {}),
              ...(step.gated[index] ? { approval: 'required' } : {}),
            })),
          },
          { actor: ana },
        );
        return;
      }
      case 'start': {
        const item = pickOf(items('ready'), step.pick);
        if (item) machine.startItem(item.run_id, item.item_id);
        return;
      }
      case 'succeed':
      case 'fail': {
        const item = pickOf(items('running'), step.pick);
        if (item) machine.finishItem(item.run_id, item.item_id, step.kind === 'succeed' ? 'succeeded' : 'failed');
        return;
      }
      case 'cancel-item': {
        const item = pickOf(anyItem(), step.pick);
        if (item) machine.cancelItem(item.run_id, item.item_id, ana, 'not needed');
        return;
      }
      case 'cancel-run': {
        const run = pickOf(copy.prepare<[], string>('SELECT run_id FROM runs ORDER BY run_id').pluck().all(), step.pick);
        if (run) machine.cancelRun(run, ana);
        return;
      }
      case 'approve':
      case 'reject': {
        const item = pickOf(items('awaiting-approval'), step.pick);
        if (item && step.kind === 'approve') machine.approveItem(item.run_id, item.item_id, ana);
        if (item && step.kind === 'reject') machine.rejectItem(item.run_id, item.item_id, ana);
        return;
      }
      case 'lock': {
        const item = pickOf(anyItem(), step.pick);
        if (item)
          copy
            .prepare(`INSERT OR REPLACE INTO lock_holders (name, mode, run_id, item_id) VALUES (?, ?, ?, ?)`)
            .run(`lock-${step.pick % 3}`, step.pick % 2 === 0 ? 'exclusive' : 'shared', item.run_id, item.item_id);
        return;
      }
      case 'unlock': {
        const holder = pickOf(
          copy.prepare<[], { name: string; run_id: string; item_id: string }>('SELECT name, run_id, item_id FROM lock_holders ORDER BY 1, 2, 3').all(),
          step.pick,
        );
        if (holder) copy.prepare('DELETE FROM lock_holders WHERE name = ? AND run_id = ? AND item_id = ?').run(holder.name, holder.run_id, holder.item_id);
        return;
      }
      case 'secret-set':
        copy
          .prepare(
            `INSERT INTO secrets (name, version, envelope, updated_at, updated_by) VALUES (?, 1, 'sealed', 't', 'ana')
             ON CONFLICT (name) DO UPDATE SET version = version + 1, envelope = 'sealed again'`,
          )
          .run(`secret-${step.name}`);
        return;
      case 'secret-remove':
        copy.prepare('DELETE FROM secrets WHERE name = ?').run(`secret-${step.name}`);
        return;
    }
  } catch (error) {
    if (!isCairnError(error)) throw error;
  }
}

let database: TestDatabase;
let writer: PostgresWriter;
let oracle: pg.Client;
beforeAll(async () => {
  database = await createTestDatabase();
  writer = await createPostgresStateStore(database.settings).acquireWriter({ instanceId: 'property' });
  oracle = await database.client();
});
afterAll(async () => {
  await writer?.release();
  await database?.drop();
});

describe('working copy → PostgreSQL → working copy', () => {
  it('random engine sessions, drained and committed at random points, load back into a fresh working copy with every table equal', async () => {
    const seen = { sessions: 0, items: 0, finished: 0, deletes: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 15, maxLength: 60, size: 'max' }), async (operations) => {
        // Each session starts from an empty store: its audit sequence starts at 0.
        const tables = engineTables(openEngineDatabase(':memory:')).map((table) => `cairn."${table.name}"`);
        await oracle.query(`TRUNCATE ${tables.join(', ')}`);
        const copy = openEngineDatabase(':memory:');
        const capture = captureChanges(copy);
        let clock = Date.UTC(2026, 10, 23);
        const now = () => (clock += 250);
        const audit = new AuditLog(new WorkingCopy(copy), { now });
        const machine = new RunStateMachine(new WorkingCopy(copy), audit, { now });
        const counter = { runs: 0 };
        const commit = async () => {
          const batch = capture.drain();
          seen.deletes += batch.tables.reduce((sum, table) => sum + table.deletes.length, 0);
          await writer.commit(batch);
        };
        for (const step of operations) {
          if (step.kind === 'commit') await commit();
          else apply(copy, machine, step, counter);
        }
        await commit();

        const loaded = openEngineDatabase(':memory:');
        await writer.load(loaded);
        expect(workingCopyContents(loaded)).toEqual(workingCopyContents(copy));
        expect(new AuditLog(new WorkingCopy(loaded)).merkle.rootHash()).toEqual(audit.merkle.rootHash());
        seen.sessions++;
        seen.items += copy.prepare<[], number>('SELECT count(*) FROM items').pluck().get()!;
        seen.finished += copy.prepare<[], number>(`SELECT count(*) FROM items WHERE state IN ('succeeded', 'failed', 'cancelled', 'skipped')`).pluck().get()!;
        copy.close();
        loaded.close();
      }),
      { numRuns: 25 },
    );
    // The sessions did reach what the property is about: items that moved, rows deleted in the store.
    expect(seen.items).toBeGreaterThan(seen.sessions);
    expect(seen.finished).toBeGreaterThan(0);
    expect(seen.deletes).toBeGreaterThan(0);
  }, 120_000);
});
