import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditActor } from '@cairn/core';
import { buildEvidenceBundle, keyIdOf, signCheckpoint, verifyBundle } from '@cairn/audit';
import { createInMemorySigner } from '@cairn/conformance/mocks';
import { isCairnError } from '@cairn/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { RunStore } from '../store/sqlite/run-store.ts';
import { RunStateMachine } from './run-state-machine.ts';
import { WorkingCopy } from '../store/sqlite/working-copy.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };

function setUp() {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-engine-'));
  directories.push(directory);
  const database = openEngineDatabase(join(directory, 'engine.db'));
  let clock = Date.UTC(2026, 10, 22, 10);
  const now = () => (clock += 1000);
  const audit = new AuditLog(new WorkingCopy(database), { now });
  return { database, audit, machine: new RunStateMachine(new WorkingCopy(database), audit, { now }) };
}

const chain = `
version: 1
name: chain
items:
  - { id: a, runtime: { kind: command, argv: [make, a] } }
  - { id: b, runtime: { kind: command, argv: [make, b] }, dependsOn: [a] }
  - { id: c, runtime: { kind: command, argv: [make, c] }, needs: { patch: { from: b, select: patch } } }
  - { id: d, runtime: { kind: command, argv: [make, d] } }
`;

const states = (machine: RunStateMachine, runId: string) => Object.fromEntries(machine.items(runId).map((item) => [item.itemId, item.state]));

function thrown(operation: () => unknown) {
  try {
    operation();
  } catch (error) {
    if (isCairnError(error)) return error;
    throw error;
  }
  return expect.unreachable('expected a CairnError');
}

describe('RunStateMachine', () => {
  test('submit stores the run, audits it, and makes items without prerequisites ready', () => {
    const { machine, audit } = setUp();
    const { runId, created } = machine.submit(chain, { actor: ana });
    expect(created).toBe(true);
    expect(machine.run(runId)).toMatchObject({ state: 'queued', name: 'chain', submittedBy: 'ana', itemsTotal: 4 });
    expect(states(machine, runId)).toEqual({ a: 'ready', b: 'blocked', c: 'blocked', d: 'ready' });
    expect(audit.runEntries(runId).map((entry) => [entry.action, entry.actor.id])).toEqual([
      ['run.submitted', 'ana'],
      ['item.ready', 'engine'],
      ['item.ready', 'engine'],
    ]);
  });

  test('an invalid spec is refused with every issue, and nothing is stored', () => {
    const { machine, audit } = setUp();
    const error = thrown(() =>
      machine.submit('version: 1\nname: x\nitems:\n  - { id: a, runtime: { kind: command, argv: [x] }, dependsOn: [b] }\n', { actor: ana, source: 'run.yaml' }),
    );
    expect(error.code).toBe('CAIRN_RUN_SPEC_INVALID');
    expect(error.message).toMatch(/^run\.yaml has 1 problem/);
    expect(audit.size).toBe(0);
    const unknownQueue = thrown(() =>
      machine.submit(
        { version: 1, name: 'x', items: [{ id: 'a', queue: 'gpu', runtime: { kind: 'command', argv: ['x'] } }] },
        { actor: ana, context: { queues: ['default'] } },
      ),
    );
    expect(unknownQueue.issues[0]).toMatchObject({ path: '$.items[0].queue' });
  });

  test('idempotency: the same key and spec return the run; another spec under the key conflicts', () => {
    const { machine } = setUp();
    const first = machine.submit(chain, { actor: ana, idempotencyKey: 'nightly-42' });
    expect(machine.submit(chain, { actor: ana, idempotencyKey: 'nightly-42' })).toEqual({ ...first, created: false });
    const error = thrown(() => machine.submit(chain.replace('make, d', 'make, e'), { actor: ana, idempotencyKey: 'nightly-42' }));
    expect(error.code).toBe('CAIRN_IDEMPOTENCY_CONFLICT');
    expect(error.message).toContain('"nightly-42"');
  });

  test('a chain completes item by item; the run succeeds and its evidence verifies complete', async () => {
    const { machine, audit } = setUp();
    const { runId } = machine.submit(chain, { actor: ana });
    for (const itemId of ['a', 'd', 'b', 'c']) {
      expect(machine.items(runId).find((item) => item.itemId === itemId)!.state).toBe('ready');
      machine.startItem(runId, itemId);
      machine.finishItem(runId, itemId, 'succeeded');
    }
    expect(machine.run(runId)).toMatchObject({ state: 'succeeded', itemsFinished: 4, itemsFailed: 0 });
    expect(machine.run(runId)!.finishedAt).not.toBeNull();

    const signer = createInMemorySigner();
    const publicKey = await signer.publicKey();
    const key = { keyId: keyIdOf(publicKey), algorithm: signer.algorithm, publicKey: Buffer.from(publicKey).toString('base64') };
    const checkpoint = await signCheckpoint(
      { origin: 'cairn:test', treeSize: audit.size, rootHash: Buffer.from(audit.merkle.rootHash()).toString('hex'), time: '2026-11-22T11:00:00.000Z' },
      signer,
    );
    const { parseRunSpec } = await import('@cairn/protocol');
    const spec = parseRunSpec(chain) as Parameters<typeof buildEvidenceBundle>[0]['spec'];
    const bundle = buildEvidenceBundle({
      runId,
      spec,
      entries: audit.runEntries(runId),
      proofs: audit.merkle,
      checkpoint,
      anchors: [],
      keys: [key],
      manifests: [],
    });
    const report = await verifyBundle(bundle, { trustedKeys: [key] });
    expect(report.checks.filter((check) => check.status === 'fail')).toEqual([]);
    expect(report.checks.find((check) => check.name === 'completeness')!.status).toBe('pass');
  });

  test('a failure skips everything downstream, independent items still run, and the run fails', () => {
    const { machine, audit } = setUp();
    const { runId } = machine.submit(chain, { actor: ana });
    machine.startItem(runId, 'a');
    machine.finishItem(runId, 'a', 'failed', undefined, { exitCode: 2 });
    expect(states(machine, runId)).toEqual({ a: 'failed', b: 'skipped', c: 'skipped', d: 'ready' });
    expect(machine.run(runId)!.state).toBe('running');
    machine.startItem(runId, 'd');
    machine.finishItem(runId, 'd', 'succeeded');
    expect(machine.run(runId)).toMatchObject({ state: 'failed', itemsFinished: 4, itemsFailed: 1 });
    expect(
      audit
        .runEntries(runId)
        .map((entry) => entry.action)
        .slice(-2),
    ).toEqual(['item.succeeded', 'run.failed']);
  });

  test('approval: a gated item waits until an actor approves it', () => {
    const { machine, audit } = setUp();
    const { runId } = machine.submit(
      { version: 1, name: 'gated', items: [{ id: 'deploy', approval: 'required', runtime: { kind: 'command', argv: ['deploy'] } }] },
      { actor: ana },
    );
    expect(states(machine, runId)).toEqual({ deploy: 'awaiting-approval' });
    expect(machine.readyItems(10)).toEqual([]);
    machine.approveItem(runId, 'deploy', { kind: 'user', id: 'bo', via: 'http' });
    expect(states(machine, runId)).toEqual({ deploy: 'ready' });
    expect(audit.runEntries(runId).map((entry) => [entry.action, entry.actor.id])).toContainEqual(['item.approved', 'bo']);
    expect(thrown(() => machine.approveItem(runId, 'deploy', ana)).code).toBe('CAIRN_LIFECYCLE_TRANSITION_INVALID');
  });

  test('a transition the lifecycle does not allow changes nothing, audit included', () => {
    const { machine, audit } = setUp();
    const { runId } = machine.submit(chain, { actor: ana });
    const size = audit.size;
    expect(thrown(() => machine.finishItem(runId, 'a', 'succeeded')).code).toBe('CAIRN_LIFECYCLE_TRANSITION_INVALID');
    // With its artifacts (a task's success: one conditional update), refused all the same.
    expect(thrown(() => machine.finishItem(runId, 'a', 'succeeded', undefined, {}, {})).message).toBe(
      'item a of run ' + runId + ' cannot go from ready to succeeded: from ready it can only become running, awaiting-approval, skipped, cancelled.',
    );
    expect(thrown(() => machine.finishItem(runId, 'nope', 'succeeded', undefined, {}, {})).code).toBe('CAIRN_NOT_FOUND');
    expect(thrown(() => machine.startItem(runId, 'b')).message).toBe(
      'item b of run ' + runId + ' cannot go from blocked to running: from blocked it can only become awaiting-approval, ready, skipped, cancelled.',
    );
    expect(thrown(() => machine.startItem(runId, 'nope')).code).toBe('CAIRN_NOT_FOUND');
    expect(thrown(() => machine.startItem('r-missing', 'a')).code).toBe('CAIRN_NOT_FOUND');
    expect(audit.size).toBe(size);
    expect(machine.run(runId)!.state).toBe('queued');
  });

  test('startItemIfStartable starts a ready item (its queued run with it, audited once), says false for one not ready, writing nothing, and refuses one that does not exist', () => {
    const { machine, audit } = setUp();
    const { runId } = machine.submit(chain, { actor: ana });
    const size = audit.size;
    expect(machine.startItemIfStartable(runId, 'b')).toBe(false);
    expect(audit.size).toBe(size);
    expect(machine.run(runId)!.state).toBe('queued');
    expect(machine.startItemIfStartable(runId, 'a')).toBe(true);
    expect(machine.startItemIfStartable(runId, 'd')).toBe(true);
    expect(machine.startItemIfStartable(runId, 'a')).toBe(false);
    expect(states(machine, runId)).toMatchObject({ a: 'running', b: 'blocked', d: 'running' });
    expect(machine.run(runId)!.state).toBe('running');
    expect(audit.runEntries(runId).filter((entry) => entry.action === 'run.started')).toHaveLength(1);
    expect(thrown(() => machine.startItemIfStartable(runId, 'nope')).code).toBe('CAIRN_NOT_FOUND');
    expect(thrown(() => machine.startItemIfStartable('r-missing', 'a')).code).toBe('CAIRN_NOT_FOUND');
  });

  test('ready items come out oldest first, across runs', () => {
    const { machine } = setUp();
    const first = machine.submit({ version: 1, name: 'one', items: [{ id: 'x', runtime: { kind: 'command', argv: ['x'] } }] }, { actor: ana });
    const second = machine.submit({ version: 1, name: 'two', items: [{ id: 'y', runtime: { kind: 'command', argv: ['y'] } }] }, { actor: ana });
    expect(machine.readyItems(10).map((item) => [item.runId, item.itemId])).toEqual([
      [first.runId, 'x'],
      [second.runId, 'y'],
    ]);
    expect(machine.readyItems(1)).toHaveLength(1);
  });

  test('ready items read in pages are those readyItems gives, in the same order, and a page is read only when reached', () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-engine-'));
    directories.push(directory);
    const database = openEngineDatabase(join(directory, 'engine.db'));
    // Counts the reads of a page (the paged statements), on the very handle.
    let pagesRead = 0;
    const prepare = database.prepare.bind(database);
    Object.defineProperty(database, 'prepare', {
      value: (source: string) => {
        const statement = prepare(source);
        if (!source.includes('rowid AS readyRowid')) return statement;
        const all = statement.all.bind(statement) as (...parameters: unknown[]) => unknown[];
        Object.defineProperty(statement, 'all', { value: (...parameters: unknown[]) => (pagesRead++, all(...parameters)) });
        return statement;
      },
    });
    // One clock tick for a whole submission: its items are ready in the same millisecond, so
    // FIFO order across pages rests on the rowid.
    const now = () => Date.UTC(2026, 10, 22, 10);
    const machine = new RunStateMachine(new WorkingCopy(database), new AuditLog(new WorkingCopy(database), { now }), { now });
    for (const name of ['one', 'two', 'three'])
      machine.submit(
        { version: 1, name, items: Array.from({ length: 4 }, (_, index) => ({ id: `${name}-${index}`, runtime: { kind: 'command' as const, argv: ['x'] } })) },
        { actor: ana },
      );
    const key = (item: { runId: string; itemId: string }) => `${item.runId}/${item.itemId}`;
    const all = machine.readyItems(100).map(key);
    expect(all).toHaveLength(12);
    for (const pageSize of [1, 2, 3, 5, 12, 20]) {
      expect([...machine.readyCandidatesInPages(100, pageSize)].map(({ item }) => key(item))).toEqual(all);
      expect([...machine.readyCandidatesInPages(7, pageSize)].map(({ item }) => key(item))).toEqual(all.slice(0, 7));
    }
    // Each with what its dispatch needs, read in the same statement: what a read of the item's own gives.
    const store = new RunStore(database);
    for (const { item, facts } of machine.readyCandidatesInPages(100, 5)) expect(facts).toEqual(store.dispatchFacts(item.runId, item.itemId));
    pagesRead = 0;
    const taken: string[] = [];
    for (const { item } of machine.readyCandidatesInPages(100, 3)) {
      taken.push(key(item));
      if (taken.length === 4) break;
    }
    expect(taken).toEqual(all.slice(0, 4));
    expect(pagesRead).toBe(2);
    database.close();
  });

  test('a page of ready items is read with its size written in the SQL, not bound (a bound LIMIT is planned again at every read); past 64 sizes, bound', () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-engine-'));
    directories.push(directory);
    const database = openEngineDatabase(join(directory, 'engine.db'));
    const pagedSources: string[] = [];
    const prepare = database.prepare.bind(database);
    Object.defineProperty(database, 'prepare', {
      value: (source: string) => {
        if (source.includes('rowid AS readyRowid')) pagedSources.push(source);
        return prepare(source);
      },
    });
    const now = () => Date.UTC(2026, 10, 22, 10);
    const machine = new RunStateMachine(new WorkingCopy(database), new AuditLog(new WorkingCopy(database), { now }), { now });
    machine.submit(
      {
        version: 1,
        name: 'many',
        items: Array.from({ length: 90 }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['x'] } })),
      },
      { actor: ana },
    );
    const key = (item: { runId: string; itemId: string }) => `${item.runId}/${item.itemId}`;
    const all = machine.readyItems(100).map(key);
    expect(all).toHaveLength(90);
    // Pages of 80 sizes, each read whole (limit = size) and in two pages (limit = size + 1).
    for (let pageSize = 1; pageSize <= 80; pageSize++) {
      expect([...machine.readyCandidatesInPages(pageSize, pageSize)].map(({ item }) => key(item))).toEqual(all.slice(0, pageSize));
      expect([...machine.readyCandidatesInPages(pageSize + 1, pageSize)].map(({ item }) => key(item))).toEqual(all.slice(0, pageSize + 1));
    }
    // Each kept size prepared once (the first page and the page after): no statement per read.
    const literal = pagedSources.filter((source) => !source.includes('LIMIT ?'));
    expect(literal).toHaveLength(2 * 64);
    expect(literal.filter((source) => source.endsWith('LIMIT 7'))).toHaveLength(2);
    expect(pagedSources.filter((source) => source.includes('LIMIT ?'))).toHaveLength(2);
    database.close();
  });

  test('cancelling a run with nothing running ends it at once, cancelled by its actor', () => {
    const { machine, audit } = setUp();
    const { runId } = machine.submit(chain, { actor: ana });
    machine.cancelRun(runId, { kind: 'token', id: 'tok_7', via: 'http' });
    expect(machine.run(runId)).toMatchObject({ state: 'cancelled', itemsFinished: 4 });
    expect(Object.values(states(machine, runId))).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
    const last = audit.runEntries(runId).at(-1)!;
    expect([last.action, last.actor.id]).toEqual(['run.cancelled', 'tok_7']);
  });
});
