import { describe, expect, test } from 'vitest';
import { AuditLog } from '../../audit/audit-log.ts';
import { openEngineDatabase } from './open-engine-database.ts';
import { AttemptStore } from './attempt-store.ts';
import { RunStateMachine } from '../../state/run-state-machine.ts';
import { RunStore } from './run-store.ts';
import { WorkingCopy } from './working-copy.ts';

const ana = { kind: 'user' as const, id: 'ana', via: 'cli' as const };
const snapshot = `sha256:${'ab'.repeat(32)}`;

function setUp() {
  const database = openEngineDatabase(':memory:');
  const machine = new RunStateMachine(new WorkingCopy(database), new AuditLog(new WorkingCopy(database)), { defaultExecutor: 'local' });
  return { database, machine, store: new RunStore(database), attempts: new AttemptStore(database) };
}

const attemptOf = (runId: string, itemId: string, attempt: number) => ({
  runId,
  itemId,
  attempt,
  fencingToken: attempt,
  executionId: `${runId}/${itemId}/${attempt}`,
  executor: 'local',
  manifestDigest: `sha256:${'cd'.repeat(32)}`,
  dispatchedAt: '2026-11-24T00:00:00.000Z',
  deadline: '2026-11-24T01:00:00.000Z',
  queue: null,
  inputDigest: null,
  lockWait: null,
});

describe('RunStore.dispatchFacts', () => {
  test("reads the item's spec and executor, its run's workspace, its lock wait and the number of its next attempt", () => {
    const { machine, store, attempts } = setUp();
    const { runId } = machine.submit(
      {
        version: 1,
        name: 'facts',
        workspace: { snapshot },
        defaults: { executor: 'remote' },
        items: [
          { id: 'a', runtime: { kind: 'command', argv: ['true'] } },
          { id: 'b', executor: 'local', runtime: { kind: 'command', argv: ['true'] } },
        ],
      },
      { actor: ana },
    );
    const first = store.dispatchFacts(runId, 'a')!;
    expect(first).toMatchObject({ executor: 'remote', workspace: snapshot, nextAttempt: 1, lockWaitStartedAt: null, lockWaitLocks: null });
    expect(JSON.parse(first.spec)).toMatchObject({ id: 'a', executor: 'remote', runtime: { argv: ['true'] } });

    // Each recorded attempt moves the next number on, per item; another item's attempts do not count.
    attempts.insert(attemptOf(runId, 'a', 1));
    expect(store.dispatchFacts(runId, 'a')!.nextAttempt).toBe(2);
    attempts.insert(attemptOf(runId, 'a', 2));
    expect(store.dispatchFacts(runId, 'a')!.nextAttempt).toBe(3);
    expect(store.dispatchFacts(runId, 'b')).toMatchObject({ executor: 'local', workspace: snapshot, nextAttempt: 1 });

    store.startLockWait(runId, 'b', '2026-11-24T00:00:01.000Z', ['db']);
    expect(store.dispatchFacts(runId, 'b')).toMatchObject({ lockWaitStartedAt: '2026-11-24T00:00:01.000Z', lockWaitLocks: '["db"]' });
    expect(store.dispatchFacts(runId, 'missing')).toBeUndefined();
  });

  test('a run without a workspace reads null, and runs do not see each other', () => {
    const { machine, store } = setUp();
    const items = [{ id: 'a', runtime: { kind: 'command' as const, argv: ['true'] } }];
    const bare = machine.submit({ version: 1, name: 'bare', items }, { actor: ana }).runId;
    const withWorkspace = machine.submit({ version: 1, name: 'with', workspace: { snapshot }, items }, { actor: ana }).runId;
    expect(store.dispatchFacts(bare, 'a')).toMatchObject({ workspace: null, executor: 'local' });
    expect(store.dispatchFacts(withWorkspace, 'a')).toMatchObject({ workspace: snapshot });
  });
});

describe('submitting stores items and edges many rows a statement', () => {
  test('a run larger than one statement holds every item in spec order, roots ready (or awaiting approval) and the rest blocked, with every edge once', () => {
    const { database, machine, store } = setUp();
    const now = Date.parse('2026-11-24T02:00:00.000Z');
    const timed = new RunStateMachine(new WorkingCopy(database), new AuditLog(new WorkingCopy(database), { now: () => now }), { now: () => now });
    const command = { kind: 'command' as const, argv: ['true'] };
    // 150 roots (one awaiting approval), then 150 items each depending on two roots, one of them
    // named twice (dependsOn and a need): 300 items and 300 distinct edges, over several statements.
    const roots = Array.from({ length: 150 }, (_, index) => ({
      id: `root-${index}`,
      runtime: command,
      ...(index === 7 ? { approval: 'required' as const } : {}),
    }));
    const leaves = Array.from({ length: 150 }, (_, index) => ({
      id: `leaf-${index}`,
      runtime: command,
      dependsOn: [`root-${index}`, `root-${(index + 1) % 150}`],
      needs: { out: { from: `root-${index}`, select: 'stdout' as const } },
    }));
    const { runId } = timed.submit({ version: 1, name: 'wide', items: [...roots, ...leaves] }, { actor: ana });
    const items = machine.items(runId);
    expect(items.map((item) => item.itemId)).toEqual([...roots, ...leaves].map((item) => item.id));
    expect(items.map((item) => item.position)).toEqual(items.map((_, index) => index));
    for (const item of items.slice(0, 150)) {
      if (item.itemId === 'root-7') expect(item).toMatchObject({ state: 'awaiting-approval', readyAt: null, waitingOn: 0, approvalRequired: true });
      else expect(item).toMatchObject({ state: 'ready', readyAt: '2026-11-24T02:00:00.000Z', waitingOn: 0, approvalRequired: false });
    }
    for (const item of items.slice(150)) expect(item).toMatchObject({ state: 'blocked', readyAt: null, waitingOn: 2 });
    expect(store.dependents(runId, 'root-0').sort()).toEqual(['leaf-0', 'leaf-149']);
    expect(store.itemWithDependents(runId, 'root-0')).toMatchObject({ itemId: 'root-0', state: 'ready', hasDependents: true });
    expect(store.itemWithDependents(runId, 'leaf-0')).toMatchObject({ itemId: 'leaf-0', state: 'blocked', hasDependents: false });
    expect(store.itemWithDependents(runId, 'missing')).toBeUndefined();
    expect(store.dependents(runId, 'root-149').sort()).toEqual(['leaf-148', 'leaf-149']);
    expect((database.prepare('SELECT COUNT(*) AS count FROM item_edges WHERE run_id = ?').get(runId) as { count: number }).count).toBe(300);
    // The audit log says it as one item at a time would have: the submit, then each root's entry in spec order.
    const entries = new AuditLog(new WorkingCopy(database)).runEntries(runId);
    expect(entries.map((entry) => [entry.action, entry.entity.id])).toEqual([
      ['run.submitted', runId],
      ...roots.map((root) => [root.id === 'root-7' ? 'item.approval-requested' : 'item.ready', `${runId}/${root.id}`]),
    ]);
    expect(entries[1]).toMatchObject({
      actor: { kind: 'system', id: 'engine', via: 'engine' },
      outcome: 'success',
      data: {},
      time: '2026-11-24T02:00:00.000Z',
    });
  });
});

describe('finishing an item with its artifacts', () => {
  test('a success records the state and the artifacts in one write; an item that is not running takes neither', () => {
    const { database, machine } = setUp();
    const items = [
      { id: 'a', runtime: { kind: 'command' as const, argv: ['true'] } },
      { id: 'b', dependsOn: ['a'], runtime: { kind: 'command' as const, argv: ['true'] } },
    ];
    const { runId } = machine.submit({ version: 1, name: 'artifacts', items }, { actor: ana });
    const produced = { stdout: `sha256:${'ef'.repeat(32)}` };
    expect(() => machine.finishItem(runId, 'a', 'succeeded', ana, {}, produced)).toThrow(
      expect.objectContaining({ code: 'CAIRN_LIFECYCLE_TRANSITION_INVALID' }),
    );
    expect(machine.artifacts(runId, 'a')).toBeUndefined();
    machine.startItem(runId, 'a');
    machine.finishItem(runId, 'a', 'succeeded', ana, {}, produced);
    expect(machine.items(runId).map((item) => [item.itemId, item.state])).toEqual([
      ['a', 'succeeded'],
      ['b', 'ready'],
    ]);
    expect(machine.artifacts(runId, 'a')).toEqual(produced);
    const succeeded = new AuditLog(new WorkingCopy(database)).runEntries(runId).find((entry) => entry.action === 'item.succeeded')!;
    expect(succeeded).toMatchObject({ actor: { id: 'ana' }, entity: { id: `${runId}/a` }, outcome: 'success' });
  });
});
