import { expect, test } from 'vitest';
import { AuditLog } from '../../audit/audit-log.ts';
import { openEngineDatabase } from './open-engine-database.ts';
import { RunStateMachine } from '../../state/run-state-machine.ts';
import { RunStore } from './run-store.ts';
import { WorkingCopy } from './working-copy.ts';

const ana = { kind: 'user' as const, id: 'ana', via: 'cli' as const };

// A run of `items` items, and two stores over its database: the counts one adds must be seen
// through the other (the dispatcher and the state machine each have one).
function setUp(items = 4) {
  const database = openEngineDatabase(':memory:');
  const machine = new RunStateMachine(new WorkingCopy(database), new AuditLog(new WorkingCopy(database)), { defaultExecutor: 'local' });
  const { runId } = machine.submit(
    {
      version: 1,
      name: 'counts',
      items: Array.from({ length: items }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['true'] } })),
    },
    { actor: ana },
  );
  const counted = (sql: string) => database.prepare<[string], { finished: number; failed: number }>(sql).get(runId)!;
  const stored = () => counted('SELECT items_finished AS finished, items_failed AS failed FROM runs WHERE run_id = ?');
  return { database, runId, counter: new RunStore(database), reader: new RunStore(database), stored };
}

test('the counts of one transaction body answer from memory, and are written by its end', () => {
  const { database, runId, counter, stored } = setUp();
  const { state } = counter.run(runId)!;
  const progress = database.transaction(() => [counter.itemFinished(runId, false), counter.itemFinished(runId, true), counter.itemFinished(runId, false)])();
  expect(progress.map(({ itemsFinished, itemsFailed }) => [itemsFinished, itemsFailed])).toEqual([
    [1, 0],
    [2, 1],
    [3, 1],
  ]);
  expect(progress.every((counted) => counted.itemsTotal === 4 && counted.state === state && counted.runId === runId)).toBe(true);
  expect(stored()).toEqual({ finished: 3, failed: 1 });
  // Outside a transaction each count is written at once.
  expect(counter.itemFinished(runId, true)).toMatchObject({ itemsFinished: 4, itemsFailed: 2 });
  expect(stored()).toEqual({ finished: 4, failed: 2 });
});

test('a read of the run in the same body, through any store, sees the counts added in memory', () => {
  const { database, runId, counter, reader } = setUp();
  database.transaction(() => {
    counter.itemFinished(runId, false);
    counter.itemFinished(runId, true);
    expect(reader.run(runId)).toMatchObject({ itemsFinished: 2, itemsFailed: 1 });
    // After the read, the next count starts from the row again.
    expect(counter.itemFinished(runId, false)).toMatchObject({ itemsFinished: 3, itemsFailed: 1 });
  })();
  expect(reader.run(runId)).toMatchObject({ itemsFinished: 3, itemsFailed: 1 });
});

test("a change of the run's state or cancel request in the body is in the progress counted after it", () => {
  const { database, runId, counter, reader } = setUp();
  database.transaction(() => {
    counter.itemFinished(runId, false);
    counter.itemFinished(runId, false);
    reader.requestCancel(runId, 'ana');
    expect(counter.itemFinished(runId, false)).toMatchObject({ itemsFinished: 3, cancelRequestedBy: 'ana' });
    reader.setRunState(runId, 'cancelled', '2026-11-26T00:00:00.000Z');
    expect(counter.itemFinished(runId, false)).toMatchObject({ itemsFinished: 4, state: 'cancelled' });
  })();
  expect(reader.run(runId)).toMatchObject({ itemsFinished: 4, state: 'cancelled' });
});

test('counts of a body that throws, or of a savepoint rolled back, are not written; those before it are', () => {
  const { database, runId, counter, stored } = setUp();
  // Counts two finished items (failed or not) in a transaction, or a savepoint inside one, then fails it.
  const countTwoThenFail = (failed: boolean, why: string) =>
    expect(
      database.transaction(() => {
        counter.itemFinished(runId, failed);
        counter.itemFinished(runId, failed);
        throw new Error(why);
      }),
    ).toThrow(why);
  countTwoThenFail(false, 'the body fails');
  expect(stored()).toEqual({ finished: 0, failed: 0 });
  database.transaction(() => {
    counter.itemFinished(runId, false);
    counter.itemFinished(runId, true);
    countTwoThenFail(true, 'the savepoint fails');
    expect(counter.itemFinished(runId, false)).toMatchObject({ itemsFinished: 3, itemsFailed: 1 });
  })();
  expect(stored()).toEqual({ finished: 3, failed: 1 });
});
